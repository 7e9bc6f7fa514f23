"""The persister's Struct conversion gives exactly what protobuf's own helper gives."""

from __future__ import annotations

import math

import pytest
from google.protobuf import json_format, struct_pb2

from automations_ingest.convert import struct_to_dict

PAYLOAD = {
    "text": "héllo",
    "whole": 3,
    "fraction": -2.5,
    "flag": False,
    "nothing": None,
    "nested": {"list": [1, "two", [3.5, None], {"deep": True}], "empty": {}},
    "empty_list": [],
}


def test_struct_to_dict_matches_message_to_dict() -> None:
    struct = struct_pb2.Struct()
    struct.update(PAYLOAD)
    assert struct_to_dict(struct) == json_format.MessageToDict(struct)
    assert struct_to_dict(struct_pb2.Struct()) == {}


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_numbers_json_cannot_carry_are_refused(number: float) -> None:
    struct = struct_pb2.Struct()
    struct.update({"n": number})
    with pytest.raises(ValueError, match="JSON cannot carry"):
        struct_to_dict(struct)
