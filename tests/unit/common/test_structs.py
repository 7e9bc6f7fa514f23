"""The hand-written Struct conversions give exactly what protobuf's own helpers give."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2

from automations_common.structs import dict_to_struct, struct_to_dict

PAYLOAD: dict[str, Any] = {
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


def test_dict_to_struct_builds_what_struct_update_builds() -> None:
    value: dict[str, Any] = {
        **PAYLOAD,
        "nested": {"labels": {"a": "b"}, "empty": {}, "none": [], "in_list": [{}, [], {"a": {}}]},
        "list": [1, "x", None, False, {"k": [1, {"deep": "er"}]}, [2, 3]],
        "tuple": (1, 2),
        "ordered": OrderedDict(a=1),
        "related": [{"prefect.resource.id": "r", "prefect.resource.role": "tag"}],
    }
    expected = struct_pb2.Struct()
    expected.update(value)
    assert dict_to_struct(value) == expected


def test_dict_to_struct_refuses_what_struct_update_refuses() -> None:
    with pytest.raises((ValueError, TypeError)):
        dict_to_struct({"when": object()})
