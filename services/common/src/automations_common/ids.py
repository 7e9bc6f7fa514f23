"""Identifiers: time-ordered ids for new things, derived ids for replay-stable ones."""

from __future__ import annotations

import uuid

import uuid6

from automations_common.errors import InvalidArgument

# Fixed namespace so derived ids are the same in every process and every run.
_NAMESPACE = uuid.UUID("6f1b7c52-93a4-4cf4-8f55-5a3b1c0e2d41")


def new_id() -> str:
    """A new UUIDv7 string: unique and sortable by creation time."""
    return str(uuid6.uuid7())


def derived_id(*parts: object) -> str:
    """A UUIDv5 from the given parts: the same parts always give the same id."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def parse_uuid(value: str, field_path: str = "id") -> str:
    """The canonical form of a UUID string, or InvalidArgument naming the field."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise InvalidArgument.for_field(
            field_path, f"{value!r} is not a valid UUID", reason="MALFORMED_ID"
        ) from None
