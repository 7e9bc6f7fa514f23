import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automations_common.errors import InvalidArgument
from automations_common.ids import canonical_uuid, derived_id, new_id, parse_uuid

NAMESPACE = uuid.UUID("6f1b7c52-93a4-4cf4-8f55-5a3b1c0e2d41")


@given(st.lists(st.one_of(st.text(), st.integers()), min_size=1, max_size=4))
def test_derived_ids_are_the_uuid5_of_the_joined_parts(parts: list[object]) -> None:
    expected = str(uuid.uuid5(NAMESPACE, "\x1f".join(str(p) for p in parts)))
    assert derived_id(*parts) == expected


def test_derived_ids_do_not_change_between_releases() -> None:
    # Stored ledgers and outboxes rely on replays deriving the same ids.
    assert derived_id("firing", 0) == "0c7984cc-0eec-57ed-9873-fa1488ca0242"


@pytest.mark.parametrize(
    "value",
    [
        "0199F1A2-1234-7ABC-9DEF-0123456789AB",
        "{0199f1a2-1234-7abc-9def-0123456789ab}",
        "0199f1a212347abc9def0123456789ab",
        "urn:uuid:0199f1a2-1234-7abc-9def-0123456789ab",
    ],
)
def test_other_spellings_of_a_uuid_are_made_canonical(value: str) -> None:
    assert canonical_uuid(value) == "0199f1a2-1234-7abc-9def-0123456789ab"
    assert parse_uuid(value) == "0199f1a2-1234-7abc-9def-0123456789ab"


def test_a_canonical_uuid_is_returned_as_it_is() -> None:
    value = new_id()
    assert canonical_uuid(value) == value == str(uuid.UUID(value))


@pytest.mark.parametrize("value", ["", "nope", "0199f1a2-1234-7abc-9def-0123456789ag", None])
def test_a_malformed_id_names_its_field(value: str) -> None:
    assert canonical_uuid(value) is None
    with pytest.raises(InvalidArgument) as raised:
        parse_uuid(value, "block.id")
    assert [v.field for v in raised.value.violations] == ["block.id"]
