"""Domain types of the trigger engine: events, triggers, automations and firings."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

# A Proactive `within` below this is coerced up (reference §3.1); validation refuses it earlier.
PROACTIVE_MINIMUM_WITHIN = timedelta(seconds=10)

Labels = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Event:
    """One event as the engine sees it (Prefect's JSON shape, minus what it does not need)."""

    id: str
    occurred: datetime
    event: str
    resource: Labels
    related: tuple[Labels, ...] = ()
    payload: Mapping[str, Any] = field(default_factory=dict)
    follows: str | None = None
    received: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """Prefect's JSON form, with ISO-8601 timestamps."""
        return {
            "id": self.id,
            "occurred": self.occurred.isoformat(),
            "event": self.event,
            "resource": dict(self.resource),
            "related": [dict(r) for r in self.related],
            "payload": dict(self.payload),
            "follows": self.follows,
            "received": self.received.isoformat() if self.received else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """The inverse of `to_dict`."""
        received = data.get("received")
        return cls(
            id=data["id"],
            occurred=parse_time(data["occurred"]),
            event=data["event"],
            resource=dict(data.get("resource") or {}),
            related=tuple(dict(r) for r in data.get("related") or ()),
            payload=dict(data.get("payload") or {}),
            follows=data.get("follows") or None,
            received=parse_time(received) if received else None,
        )


def parse_time(value: str) -> datetime:
    """An ISO-8601 timestamp, as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ResourceSpecification:
    """Label filter: every key must hold (AND), through any of its patterns (OR)."""

    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: Mapping[str, str | Iterable[str]]) -> ResourceSpecification:
        """From Prefect's JSON form, where a bare string is a one-element list."""
        return cls(
            {k: (v,) if isinstance(v, str) else tuple(v) for k, v in spec.items()},
        )

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.labels.items())))


class Posture(enum.StrEnum):
    REACTIVE = "Reactive"
    PROACTIVE = "Proactive"
    METRIC = "Metric"


class TriggerState(enum.StrEnum):
    TRIGGERED = "Triggered"
    RESOLVED = "Resolved"


@dataclass(frozen=True, slots=True)
class EventTrigger:
    """Fires when `threshold` expected events do (Reactive) or do not (Proactive) arrive."""

    id: str
    posture: Posture = Posture.REACTIVE
    match: ResourceSpecification = field(default_factory=ResourceSpecification)
    match_related: tuple[ResourceSpecification, ...] = ()
    after: frozenset[str] = frozenset()
    expect: frozenset[str] = frozenset()
    for_each: tuple[str, ...] = ()
    threshold: int = 1
    within: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        # The bucketing key zips sorted labels; sorting here keeps every caller consistent.
        object.__setattr__(self, "for_each", tuple(sorted(set(self.for_each))))
        if self.posture is Posture.PROACTIVE and self.within < PROACTIVE_MINIMUM_WITHIN:
            object.__setattr__(self, "within", PROACTIVE_MINIMUM_WITHIN)

    @property
    def immediate(self) -> bool:
        """Reactive with `within` 0: every expected event is counted regardless of window."""
        return self.posture is Posture.REACTIVE and self.within == timedelta(0)


@dataclass(frozen=True, slots=True)
class CompoundTrigger:
    """Fires when `require` (any, all or a number) of its children have fired within `within`."""

    id: str
    triggers: tuple[Trigger, ...]
    require: int | Literal["any", "all"] = "all"
    within: timedelta | None = None

    @property
    def num_expected(self) -> int:
        if self.require == "any":
            return 1
        if self.require == "all":
            return len(self.triggers)
        return self.require


@dataclass(frozen=True, slots=True)
class SequenceTrigger:
    """Fires when all its children have fired, in the declared order, within `within`."""

    id: str
    triggers: tuple[Trigger, ...]
    within: timedelta | None = None

    @property
    def num_expected(self) -> int:
        return len(self.triggers)


@dataclass(frozen=True, slots=True)
class MetricQuery:
    name: Literal["lateness", "duration", "successes"]
    threshold: float
    operator: Literal["<", "<=", ">", ">="]
    range: timedelta = timedelta(seconds=300)
    firing_for: timedelta = timedelta(seconds=300)


@dataclass(frozen=True, slots=True)
class MetricTrigger:
    """The shape of a metric trigger; this engine does not evaluate it."""

    id: str
    metric: MetricQuery
    match: ResourceSpecification = field(default_factory=ResourceSpecification)
    match_related: tuple[ResourceSpecification, ...] = ()


Trigger = EventTrigger | CompoundTrigger | SequenceTrigger | MetricTrigger
CompositeTrigger = CompoundTrigger | SequenceTrigger


@dataclass(frozen=True, slots=True)
class Automation:
    """What the engine needs of an automation; actions stay with the service."""

    id: str
    trigger: Trigger
    name: str = ""
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Firing:
    """A trigger changing state: Triggered, or (proactive, after a Triggered) Resolved."""

    id: str
    trigger_id: str
    automation_id: str
    states: frozenset[TriggerState]
    triggered: datetime
    triggering_labels: Mapping[str, str] = field(default_factory=dict)
    triggering_event: Event | None = None
    triggering_firings: tuple[Firing, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trigger_id": self.trigger_id,
            "automation_id": self.automation_id,
            "states": sorted(s.value for s in self.states),
            "triggered": self.triggered.isoformat(),
            "triggering_labels": dict(self.triggering_labels),
            "triggering_event": self.triggering_event.to_dict() if self.triggering_event else None,
            "triggering_firings": [f.to_dict() for f in self.triggering_firings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Firing:
        event = data.get("triggering_event")
        return cls(
            id=data["id"],
            trigger_id=data["trigger_id"],
            automation_id=data["automation_id"],
            states=frozenset(TriggerState(s) for s in data["states"]),
            triggered=parse_time(data["triggered"]),
            triggering_labels=dict(data.get("triggering_labels") or {}),
            triggering_event=Event.from_dict(event) if event else None,
            triggering_firings=tuple(cls.from_dict(f) for f in data.get("triggering_firings", ())),
        )
