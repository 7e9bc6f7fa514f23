"""Flow-run event builders and a scripted metric runner on a controllable clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from automations_triggers.metrics import MetricEvaluation, MetricFiring
from automations_triggers.model import (
    Event,
    Firing,
    MetricQuery,
    MetricTrigger,
    ResourceSpecification,
)
from automations_triggers.state import ChangeLog, StateRow

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
AUTOMATION = "a1"
_ids = itertools.count(1)

# Prefect's state names and their types.
TYPES = {
    "Scheduled": "SCHEDULED",
    "Late": "SCHEDULED",
    "AwaitingRetry": "SCHEDULED",
    "Pending": "PENDING",
    "Running": "RUNNING",
    "Retrying": "RUNNING",
    "Completed": "COMPLETED",
    "Failed": "FAILED",
    "Crashed": "CRASHED",
    "Cancelled": "CANCELLED",
    "Paused": "PAUSED",
}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def seconds(t: datetime) -> float:
    return (t - T0).total_seconds()


def flow_run(
    run: str,
    state: str,
    t: float,
    *,
    run_count: int = 1,
    deployment: str = "d1",
    tags: Sequence[str] = (),
) -> Event:
    """A `prefect.flow-run.<state>` event shaped like Prefect's (reference §1.3)."""
    related: list[dict[str, str]] = [
        {"prefect.resource.id": "prefect.flow.f1", "prefect.resource.role": "flow"},
        {
            "prefect.resource.id": f"prefect.deployment.{deployment}",
            "prefect.resource.role": "deployment",
        },
        {"prefect.resource.id": "prefect.work-pool.p1", "prefect.resource.role": "work-pool"},
    ]
    related += [
        {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"}
        for tag in tags
    ]
    return Event(
        id=f"e{next(_ids)}",
        occurred=at(t),
        event=f"prefect.flow-run.{state}",
        resource={
            "prefect.resource.id": f"prefect.flow-run.{run}",
            "prefect.resource.name": run,
            "prefect.state-type": TYPES[state],
            "prefect.state-name": state,
            "prefect.run-count": str(run_count),
        },
        related=tuple(related),
    )


def lifecycle(run: str, t: float, *states: str, step: float = 1, **kwargs: object) -> list[Event]:
    """Consecutive states of one run, `step` seconds apart, starting at `t`."""
    return [flow_run(run, s, t + i * step, **kwargs) for i, s in enumerate(states)]  # type: ignore[arg-type]


def metric_trigger(
    name: str = "successes",
    operator: str = "<",
    threshold: float = 0.8,
    *,
    range: float = 3600,
    firing_for: float = 300,
    id: str = "m",
    match: Mapping[str, str | list[str]] | None = None,
    match_related: Sequence[Mapping[str, str | list[str]]] = (),
) -> MetricTrigger:
    return MetricTrigger(
        id=id,
        metric=MetricQuery(
            name=name,  # type: ignore[arg-type]
            threshold=threshold,
            operator=operator,  # type: ignore[arg-type]
            range=timedelta(seconds=range),
            firing_for=timedelta(seconds=firing_for),
        ),
        match=ResourceSpecification.of(match or {"prefect.resource.id": "prefect.flow-run.*"}),
        match_related=tuple(ResourceSpecification.of(m) for m in match_related),
    )


@dataclass(frozen=True)
class Tick:
    t: float


Step = Event | Tick


@dataclass
class Runner:
    """Drives a MetricEvaluation like the engine would, persisting every change to `store`.

    Events are evaluated at their own `occurred` time (the events clock of a caught-up
    service); ticks at the given time.
    """

    triggers: list[MetricTrigger]
    evaluation: MetricEvaluation = field(init=False)
    firings: list[MetricFiring] = field(default_factory=list)
    store: dict[tuple[str, str], StateRow] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.evaluation = self._new()
        self._commit()

    def _new(self, rows: Iterable[StateRow] = ()) -> MetricEvaluation:
        evaluation = MetricEvaluation(self._emit)
        evaluation.restore(rows)
        for trigger in self.triggers:
            evaluation.track(AUTOMATION, trigger)
        evaluation.prune_unknown()
        return evaluation

    def _emit(self, automation_id: str, trigger: MetricTrigger, firing: Firing) -> None:
        assert isinstance(firing, MetricFiring)
        self.firings.append(firing)

    def _commit(self) -> None:
        log = ChangeLog()
        self.evaluation.write_changes(log)
        changes = log.take()
        for row in changes.upserts:
            self.store[(row.kind, row.key)] = row
        for ident in changes.deletes:
            self.store.pop(ident, None)

    def step(self, step: Step) -> list[MetricFiring]:
        before = len(self.firings)
        if isinstance(step, Tick):
            self.evaluation.run_due(at(step.t), at(step.t))
        else:
            self.evaluation.observe(step, step.occurred, step.occurred)
        self._commit()
        return self.firings[before:]

    def run(self, steps: Iterable[Step]) -> Runner:
        for step in steps:
            self.step(step)
        return self

    def restart(self) -> Runner:
        """A new evaluation restored from the persisted rows only."""
        self.evaluation = self._new(self.store.values())
        self._commit()
        return self

    def value(self, trigger_id: str = "m") -> float | None:
        return self.evaluation.value(AUTOMATION, trigger_id)


def summary(firings: Iterable[MetricFiring]) -> list[tuple[str, float, float | None]]:
    """(state, events-clock seconds when stamped, value) per firing."""
    return [(next(iter(f.states)).value, seconds(f.triggered), f.triggering_value) for f in firings]


def ticks(start: float, stop: float, every: float) -> list[Tick]:
    count = int((stop - start) / every) + 1
    return [Tick(start + i * every) for i in range(count)]
