"""The event as the store, the filters and the webhooks see it: Prefect's JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

RESOURCE_ID = "prefect.resource.id"
RESOURCE_ROLE = "prefect.resource.role"


@dataclass(slots=True)
class EventRecord:
    """One event; `received` is set once ingest accepted it."""

    id: str
    occurred: datetime
    event: str
    resource: dict[str, str]
    related: list[dict[str, str]] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    follows: str | None = None
    received: datetime | None = None
    workspace: str = "default"

    @property
    def resource_id(self) -> str:
        return self.resource.get(RESOURCE_ID, "")

    def to_json(self) -> dict[str, Any]:
        """Prefect's JSON form of the event."""
        return {
            "id": self.id,
            "occurred": self.occurred.isoformat(),
            "event": self.event,
            "resource": dict(self.resource),
            "related": [dict(r) for r in self.related],
            "payload": self.payload,
            "follows": self.follows,
            "received": self.received.isoformat() if self.received else None,
        }


def utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
