"""Event models in Prefect's schema, and what an emit call reports back."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import Field, RootModel

from automations._models import Model

# Prefect sets `follows` only when the two events are this close (TIGHT_TIMING).
FOLLOWS_WINDOW = timedelta(minutes=5)


def uuid7() -> UUID:
    """A time-ordered UUIDv7 (the standard library gains one only in Python 3.14)."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return UUID(int=value)


def _now() -> datetime:
    return datetime.now(UTC)


class Resource(RootModel[dict[str, str]]):
    """A resource: flat string labels, `prefect.resource.id` among them."""

    root: dict[str, str] = Field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.root.get("prefect.resource.id", "")

    @property
    def name(self) -> str | None:
        return self.root.get("prefect.resource.name")

    @property
    def role(self) -> str | None:
        return self.root.get("prefect.resource.role")

    def __getitem__(self, label: str) -> str:
        return self.root[label]

    def get(self, label: str, default: str | None = None) -> str | None:
        return self.root.get(label, default)


RelatedResource = Resource
"""A related resource; it also carries `prefect.resource.role`."""


class Event(Model):
    """Something that happened to a resource. The server checks the labels and limits."""

    occurred: datetime = Field(default_factory=_now)
    event: str
    resource: Resource
    related: list[Resource] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)
    id: UUID = Field(default_factory=uuid7)
    follows: UUID | None = None
    received: datetime | None = None

    def involved_resources(self) -> list[Resource]:
        return [self.resource, *self.related]


def follows_id(occurred: datetime, leader: Event | None) -> UUID | None:
    """The `follows` id for an event, set only when the leader is close in time (Prefect)."""
    if leader is None:
        return None
    if abs(occurred - leader.occurred) < FOLLOWS_WINDOW:
        return leader.id
    return None


@dataclass(frozen=True)
class RejectedEvent:
    """One event the server refused, with where it was in the list and why."""

    index: int
    event_id: str
    reason: str
    field: str


@dataclass(frozen=True)
class EmitResult:
    """Which events were accepted (durably stored) and which were refused."""

    accepted_ids: list[str] = field(default_factory=list)
    rejected: list[RejectedEvent] = field(default_factory=list)

    @property
    def accepted_count(self) -> int:
        return len(self.accepted_ids)

    @property
    def ok(self) -> bool:
        return not self.rejected


@dataclass(frozen=True)
class EventFilter:
    """Which stored events a query, count or tail covers; every set criterion must hold.

    Event names: `event_names` exact, `event_prefixes` by prefix (a trailing `*` is a prefix
    too). Resources: the primary resource's id, id prefix or labels; `related_ids`/
    `related_roles` on related resources; `any_resource_ids` on either.
    """

    since: datetime | None = None
    until: datetime | None = None
    event_names: list[str] = field(default_factory=list)
    event_prefixes: list[str] = field(default_factory=list)
    exclude_event_prefixes: list[str] = field(default_factory=list)
    resource_ids: list[str] = field(default_factory=list)
    resource_id_prefixes: list[str] = field(default_factory=list)
    resource_labels: dict[str, str | list[str]] = field(default_factory=dict)
    related_ids: list[str] = field(default_factory=list)
    related_roles: list[str] = field(default_factory=list)
    any_resource_ids: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    text: str = ""
    ascending: bool = False


@dataclass(frozen=True)
class EventCount:
    """One bin or group of a count query."""

    value: str
    label: str
    count: int
    start: datetime | None
    end: datetime | None
