"""Builders and a scripted runner for engine tests on a controllable clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from automations_triggers.engine import Engine
from automations_triggers.model import (
    Automation,
    Event,
    EventTrigger,
    Firing,
    Posture,
    ResourceSpecification,
    Trigger,
)
from automations_triggers.state import StateChanges, StateRow

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
_ids = itertools.count(1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(
    name: str,
    t: float,
    rid: str = "r1",
    *,
    id: str | None = None,
    labels: Mapping[str, str] | None = None,
    related: Sequence[Mapping[str, str]] = (),
    follows: str | None = None,
    received: float | None = None,
) -> Event:
    resource = {"prefect.resource.id": rid, **(labels or {})}
    return Event(
        id=id or f"e{next(_ids)}",
        occurred=at(t),
        event=name,
        resource=resource,
        related=tuple(dict(r) for r in related),
        follows=follows,
        received=at(received) if received is not None else None,
    )


def event_trigger(
    id: str = "t",
    *,
    expect: Iterable[str] = (),
    after: Iterable[str] = (),
    for_each: Iterable[str] = (),
    threshold: int = 1,
    within: float = 0,
    proactive: bool = False,
    match: Mapping[str, str | list[str]] | None = None,
    match_related: Sequence[Mapping[str, str | list[str]]] = (),
) -> EventTrigger:
    return EventTrigger(
        id=id,
        posture=Posture.PROACTIVE if proactive else Posture.REACTIVE,
        match=ResourceSpecification.of(match or {}),
        match_related=tuple(ResourceSpecification.of(m) for m in match_related),
        after=frozenset(after),
        expect=frozenset(expect),
        for_each=tuple(for_each),
        threshold=threshold,
        within=timedelta(seconds=within),
    )


def automation(trigger: Trigger, id: str = "a1", enabled: bool = True) -> Automation:
    return Automation(id=id, trigger=trigger, name=f"automation {id}", enabled=enabled)


@dataclass
class Batch:
    """Events processed together at wall-clock `now` (default: the newest `occurred`)."""

    events: list[Event]
    now: float | None = None


@dataclass
class Tick:
    """A call to `due` at wall-clock `t`."""

    t: float


Step = Event | Batch | Tick


@dataclass
class Runner:
    """Drives an Engine through steps, mirroring every state change into a row store."""

    engine: Engine = field(default_factory=Engine)
    store: dict[tuple[str, str], StateRow] = field(default_factory=dict)
    firings: list[Firing] = field(default_factory=list)

    def apply(self, changes: StateChanges) -> None:
        for kind, key in changes.deletes:
            self.store.pop((kind, key), None)
        for row in changes.upserts:
            self.store[(row.kind, row.key)] = row

    def load(self, *automations: Automation) -> Runner:
        self.apply(self.engine.load(automations))
        return self

    def step(self, step: Step) -> list[Firing]:
        if isinstance(step, Tick):
            result = self.engine.due(at(step.t))
        else:
            batch = step if isinstance(step, Batch) else Batch([step])
            now = at(batch.now) if batch.now is not None else max(e.occurred for e in batch.events)
            result = self.engine.process(batch.events, now)
        self.apply(result.changes)
        self.firings.extend(result.firings)
        return result.firings

    def run(self, steps: Iterable[Step]) -> list[Firing]:
        for step in steps:
            self.step(step)
        return self.firings


def seconds(moment: datetime) -> float:
    return (moment - T0).total_seconds()


def summary(firings: Iterable[Firing]) -> list[tuple[Any, ...]]:
    """(state, triggering event name@seconds or None, fired at seconds) per firing."""
    out: list[tuple[Any, ...]] = []
    for f in firings:
        (state,) = f.states
        e = f.triggering_event
        out.append((state.value, f"{e.event}@{seconds(e.occurred):g}" if e else None))
    return out
