"""Metric triggers (reference §5, DESIGN.md §4.2): evaluates flow-run metrics and fires.

A metric is computed over a look-back `range`; Triggered fires after a breach holds for
`firing_for`, Resolved after the recovery holds as long.

The triggers service already sees every event, so each metric trigger keeps the state
timelines of the flow runs it matches (`metric_state.py`) and computes its metric from them;
no other service's store is read.

Time. Everything here runs on the events clock `as_of` (the engine's `now + offset`), the
time the events processed so far describe; `now` (wall clock) is only stamped on firings.
The metric at time t is the mean of the contributions whose time is in `(t - range, ∞)`; it
changes only when an event changes a run's contribution or when a contribution leaves the
range (`time + range`). Each trigger evaluates lazily but exactly: before looking at time t
it steps through every such change point, and every `firing_for` deadline, between its
previous evaluation and t. So the outcome (firings, their ids and values) depends on the
events and their `as_of` only, not on how often `run_due` is called, and a restored state
continues exactly where the saved one stopped.

Breach machine, per trigger: with the value compared to the threshold (`<`, `<=`, `>`,
`>=`), a breach that holds continuously for `firing_for` fires Triggered once; then a
recovery (value within bounds) that holds continuously for `firing_for` fires Resolved once.
A shorter dip changes nothing. No runs in range means no value: neither breach nor recovery,
so it interrupts a pending transition and keeps the current status.

Firings: `MetricFiring` (a `Firing` with `triggering_value`, the metric value at the
transition), no triggering event, empty labels. Ids are derived from the automation, the
trigger and the events-clock time of the transition (Resolved: from the Triggered id).

State rows: one "metric" row per trigger (status, clock, pending transition, a fingerprint
of the definition so that a trigger edited while the service was down starts afresh) and
one "metric_run" row per tracked run. Finished runs are dropped once they are `range +
RUN_MARGIN` old, unfinished ones after OPEN_RUN_RETENTION (or `range + RUN_MARGIN` if longer),
and at most MAX_RUNS runs are kept per trigger.
"""

from __future__ import annotations

import bisect
import heapq
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from automations_common.ids import derived_id
from automations_triggers.matching import exact_resource_ids, spec_includes, spec_matches
from automations_triggers.metric_state import (
    SCALE,
    Contribution,
    RunTimeline,
    flow_run_state,
)
from automations_triggers.model import (
    Event,
    Firing,
    MetricTrigger,
    ResourceSpecification,
    TriggerState,
    parse_time,
)
from automations_triggers.state import ChangeLog, StateRow

METRIC = "metric"
METRIC_RUN = "metric_run"
ROW_KINDS = frozenset({METRIC, METRIC_RUN})

# A finished run is kept this long past the range, for a late retry or a late event of it.
RUN_MARGIN = timedelta(minutes=15)
# An unfinished run (Running or Late for hours) is kept this long after its latest state.
OPEN_RUN_RETENTION = timedelta(days=1)
MAX_RUNS = 20_000

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda value, threshold: value < threshold,
    "<=": lambda value, threshold: value <= threshold,
    ">": lambda value, threshold: value > threshold,
    ">=": lambda value, threshold: value >= threshold,
}

Emit = Callable[[str, MetricTrigger, Firing], None]


@dataclass(frozen=True, slots=True)
class MetricFiring(Firing):
    """A metric trigger's firing: `triggering_value` is the metric value at the transition."""

    triggering_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = Firing.to_dict(self)
        data["triggering_value"] = self.triggering_value
        return data


def breaches(trigger: MetricTrigger, value: float) -> bool:
    """Whether `value` is out of bounds: `value <operator> threshold` holds."""
    query = trigger.metric
    return _OPERATORS[query.operator](value, query.threshold)


def covers_run(trigger: MetricTrigger, event: Event) -> bool:
    """`match` on the flow run, and each `match_related` spec on some related resource."""
    if not spec_matches(trigger.match, event.resource):
        return False
    return all(spec_includes(spec, event.related) for spec in trigger.match_related)


def index_ids(trigger: MetricTrigger) -> frozenset[str] | None:
    """Resource ids one of which every covered event carries (the flow run's, or a related
    resource's), when the scope pins exact ids; None when it pins none."""
    for spec in trigger.match_related:
        ids = exact_resource_ids(spec)
        if ids is not None:
            return ids
    return exact_resource_ids(trigger.match)


def fingerprint(trigger: MetricTrigger) -> str:
    """A stable digest of what the state depends on (the query and the scope)."""

    def spec(s: ResourceSpecification) -> list[Any]:
        return sorted([k, sorted(v)] for k, v in s.labels.items())

    q = trigger.metric
    definition = [
        q.name,
        q.threshold,
        q.operator,
        q.range.total_seconds(),
        q.firing_for.total_seconds(),
        spec(trigger.match),
        [spec(s) for s in trigger.match_related],
    ]
    return derived_id("metric-trigger", json.dumps(definition, separators=(",", ":")))


def metric_row_key(automation_id: str, trigger_id: str) -> str:
    return json.dumps([automation_id, trigger_id], separators=(",", ":"))


def run_row_key(automation_id: str, trigger_id: str, run_id: str) -> str:
    return json.dumps([automation_id, trigger_id, run_id], separators=(",", ":"))


@dataclass(slots=True)
class MetricStatus:
    """The breach machine of one trigger, as persisted in its "metric" row."""

    clock: datetime | None = None
    fired: str | None = None  # the id of the Triggered firing awaiting its Resolved
    pending_since: datetime | None = None  # when the opposite condition began to hold
    value: float | None = None  # the value at `clock`

    def to_data(self) -> dict[str, Any]:
        return {
            "clock": self.clock.isoformat() if self.clock else None,
            "fired": self.fired,
            "pending_since": self.pending_since.isoformat() if self.pending_since else None,
            "value": self.value,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> MetricStatus:
        clock = data.get("clock")
        since = data.get("pending_since")
        value = data.get("value")
        return cls(
            parse_time(clock) if clock else None,
            data.get("fired"),
            parse_time(since) if since else None,
            float(value) if value is not None else None,
        )


@dataclass(slots=True)
class TriggerMetric:
    """One metric trigger's runs, contributions and breach machine."""

    automation_id: str
    trigger: MetricTrigger
    status: MetricStatus = field(default_factory=MetricStatus)
    runs: dict[str, RunTimeline] = field(default_factory=dict)
    # Contributions by run, and (time, run id) sorted by time. `order[start:]` are those in
    # range at the clock (time > cutoff = clock - range); `total` and `count` sum them.
    values: dict[str, Contribution] = field(default_factory=dict)
    order: list[tuple[datetime, str]] = field(default_factory=list)
    start: int = 0
    cutoff: datetime | None = None
    total: int = 0
    count: int = 0
    # (expiry, run id), one entry per put_run; stale entries are skipped when popped.
    expiries: list[tuple[datetime, str]] = field(default_factory=list)
    dirty_runs: dict[str, RunTimeline | None] = field(default_factory=dict)
    dirty_status: bool = False

    @property
    def range(self) -> timedelta:
        return self.trigger.metric.range

    # -- runs -----------------------------------------------------------------------------

    def put_run(self, timeline: RunTimeline, persist: bool = True) -> None:
        self.runs[timeline.run_id] = timeline
        self._set_contribution(timeline.run_id, timeline.contribution(self.trigger.metric.name))
        heapq.heappush(self.expiries, (self.expiry(timeline), timeline.run_id))
        if persist:
            self.dirty_runs[timeline.run_id] = timeline

    def drop_run(self, run_id: str) -> None:
        if self.runs.pop(run_id, None) is not None:
            self._set_contribution(run_id, None)
            self.dirty_runs[run_id] = None

    def _set_contribution(self, run_id: str, new: Contribution | None) -> None:
        old = self.values.pop(run_id, None)
        if old is not None:
            index = bisect.bisect_left(self.order, (old.time, run_id))
            del self.order[index]
            if index < self.start:
                self.start -= 1
            else:
                self.total -= old.amount
                self.count -= 1
        if new is not None:
            self.values[run_id] = new
            bisect.insort(self.order, (new.time, run_id))
            if self.cutoff is not None and new.time <= self.cutoff:
                self.start += 1
            else:
                self.total += new.amount
                self.count += 1

    def move_cutoff(self, clock: datetime) -> None:
        """Take out the contributions no longer in range at `clock` (time <= clock - range,
        so a contribution leaves at exactly time + range)."""
        cutoff = clock - self.range
        if self.cutoff is not None and cutoff <= self.cutoff:
            return
        self.cutoff = cutoff
        while self.start < len(self.order) and self.order[self.start][0] <= cutoff:
            self.total -= self.values[self.order[self.start][1]].amount
            self.count -= 1
            self.start += 1

    # -- the metric -----------------------------------------------------------------------

    def current_value(self) -> float | None:
        """The mean of the contributions in range at the clock; None without any."""
        if self.count == 0:
            return None
        return self.total / self.count / SCALE[self.trigger.metric.name]

    def next_change(self) -> datetime | None:
        """The next events-clock time after `clock` at which evaluation can change anything:
        a contribution leaving the range, or a pending transition's `firing_for` deadline."""
        clock = self.status.clock
        if clock is None:
            return None
        times: list[datetime] = []
        if self.start < len(self.order):
            times.append(self.order[self.start][0] + self.range)
        pending = self.pending_deadline()
        if pending is not None:
            times.append(pending)
        return min(times) if times else None

    def pending_deadline(self) -> datetime | None:
        since = self.status.pending_since
        return since + self.trigger.metric.firing_for if since is not None else None

    # -- the breach machine ---------------------------------------------------------------

    def advance(self, t: datetime, now: datetime, emit: Emit) -> None:
        """Evaluate every change point up to `t`, then `t` itself (never backwards)."""
        while (change := self.next_change()) is not None and change <= t:
            self._evaluate(change, now, emit)
        if self.status.clock is None or t > self.status.clock:
            self._evaluate(t, now, emit)

    def reevaluate(self, now: datetime, emit: Emit) -> None:
        """Evaluate again at the current clock, after an event changed a contribution."""
        if self.status.clock is not None:
            self._evaluate(self.status.clock, now, emit)

    def _evaluate(self, t: datetime, now: datetime, emit: Emit) -> None:
        status = self.status
        status.clock = t if status.clock is None else max(status.clock, t)
        t = status.clock
        self.move_cutoff(t)
        value = self.current_value()
        self.dirty_status = True
        status.value = value
        # The condition that would change the status: breach while resolved, recovery
        # while triggered. No value is neither.
        wanted = value is not None and breaches(self.trigger, value) == (status.fired is None)
        if not wanted:
            status.pending_since = None
            return
        if status.pending_since is None:
            status.pending_since = t
        if t - status.pending_since < self.trigger.metric.firing_for:
            return
        assert value is not None
        status.pending_since = None
        if status.fired is None:
            firing_id = derived_id(
                "metric",
                self.automation_id,
                self.trigger.id,
                "Triggered",
                t.astimezone(UTC).isoformat(),
            )
            status.fired = firing_id
            state = TriggerState.TRIGGERED
        else:
            firing_id = derived_id("resolved", status.fired)
            status.fired = None
            state = TriggerState.RESOLVED
        firing = MetricFiring(
            id=firing_id,
            trigger_id=self.trigger.id,
            automation_id=self.automation_id,
            states=frozenset({state}),
            triggered=now,
            triggering_value=value,
        )
        emit(self.automation_id, self.trigger, firing)

    # -- bounds ---------------------------------------------------------------------------

    def expiry(self, timeline: RunTimeline) -> datetime:
        """When a run is too old to matter: its contribution is out of range by then."""
        keep = self.range + RUN_MARGIN
        if not timeline.finished:
            keep = max(keep, OPEN_RUN_RETENTION)
        return timeline.latest.occurred + keep

    def prune(self, as_of: datetime) -> None:
        """Drop expired runs (never changes a value) and the oldest beyond MAX_RUNS."""
        while self.expiries and self.expiries[0][0] < as_of:
            expiry, run_id = heapq.heappop(self.expiries)
            timeline = self.runs.get(run_id)
            # Entries are invalidated lazily: a run that changed since has a later expiry.
            if timeline is not None and self.expiry(timeline) == expiry:
                self.drop_run(run_id)
        if len(self.runs) > MAX_RUNS:
            by_age = sorted(self.runs.values(), key=lambda r: r.latest.occurred)
            for timeline in by_age[: len(self.runs) - MAX_RUNS]:
                self.drop_run(timeline.run_id)

    # -- rows -----------------------------------------------------------------------------

    def status_row(self) -> StateRow:
        data = self.status.to_data()
        data.update(
            automation_id=self.automation_id,
            trigger_id=self.trigger.id,
            fingerprint=fingerprint(self.trigger),
        )
        return StateRow(
            METRIC, metric_row_key(self.automation_id, self.trigger.id), self.automation_id, data
        )

    def run_row(self, timeline: RunTimeline) -> StateRow:
        return StateRow(
            METRIC_RUN,
            run_row_key(self.automation_id, self.trigger.id, timeline.run_id),
            self.automation_id,
            {
                "automation_id": self.automation_id,
                "trigger_id": self.trigger.id,
                "run_id": timeline.run_id,
                "states": timeline.to_data(),
            },
        )

    def rows(self) -> list[StateRow]:
        rows = [self.status_row()] if self.status.clock is not None else []
        rows.extend(self.run_row(r) for r in self.runs.values())
        return rows

    def write_changes(self, log: ChangeLog) -> None:
        if self.dirty_status:
            log.upsert(self.status_row())
            self.dirty_status = False
        for run_id, timeline in self.dirty_runs.items():
            if timeline is None:
                log.delete(METRIC_RUN, run_row_key(self.automation_id, self.trigger.id, run_id))
            else:
                log.upsert(self.run_row(timeline))
        self.dirty_runs = {}

    def delete_rows(self, log: ChangeLog) -> None:
        log.delete(METRIC, metric_row_key(self.automation_id, self.trigger.id))
        for run_id in set(self.runs) | set(self.dirty_runs):
            log.delete(METRIC_RUN, run_row_key(self.automation_id, self.trigger.id, run_id))


class MetricEvaluation:
    """Runs every loaded metric trigger over flow-run events and the events clock.

    Contract for the engine (all times on the events clock unless named `now`):
        restore(rows)                      persisted "metric"/"metric_run" rows, before track
        track(automation_id, trigger)      a metric trigger was loaded (anywhere in a tree)
        untrack(automation_id, trigger_id) it was removed or changed: its state is deleted
        prune_unknown()                    after a full load: delete restored state of
                                           triggers that were not tracked
        observe(event, as_of, now)         every event, in stream order
        run_due(as_of, now)                on every tick (at most ~5 s apart)
        next_deadline() -> datetime|None   events-clock time a pending transition completes
        rows() / write_changes(log)        state for export and per-call changes
    Firings go to `emit(automation_id, trigger, firing)` as they happen.
    """

    __slots__ = ("_by_resource", "_deleted", "_emit", "_restored", "_triggers", "_unindexed")

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._triggers: dict[tuple[str, str], TriggerMetric] = {}
        # Which triggers an event can concern: by a pinned resource id, or any (unindexed).
        self._by_resource: dict[str, set[tuple[str, str]]] = {}
        self._unindexed: set[tuple[str, str]] = set()
        # Rows restored for triggers not tracked yet, by (automation id, trigger id).
        self._restored: dict[tuple[str, str], list[StateRow]] = {}
        self._deleted = ChangeLog()

    def __len__(self) -> int:
        return len(self._triggers)

    # -- bookkeeping ----------------------------------------------------------------------

    def restore(self, rows: Iterable[StateRow]) -> None:
        for row in rows:
            if row.kind in ROW_KINDS:
                ident = (row.automation_id, str(row.data["trigger_id"]))
                self._restored.setdefault(ident, []).append(row)

    def track(self, automation_id: str, trigger: MetricTrigger) -> None:
        ident = (automation_id, trigger.id)
        if ident in self._triggers:
            return
        metric = TriggerMetric(automation_id, trigger)
        rows = self._restored.pop(ident, [])
        status_rows = [r for r in rows if r.kind == METRIC]
        if status_rows and status_rows[0].data.get("fingerprint") != fingerprint(trigger):
            # Edited while we were away: the saved state describes another definition.
            for row in rows:
                self._deleted.delete(row.kind, row.key)
            rows = []
            status_rows = []
        for row in rows:
            if row.kind == METRIC_RUN:
                run_id = str(row.data["run_id"])
                metric.put_run(RunTimeline.from_data(run_id, row.data["states"]), persist=False)
        if status_rows:
            metric.status = MetricStatus.from_data(status_rows[0].data)
            if metric.status.clock is not None:
                metric.move_cutoff(metric.status.clock)
        self._triggers[ident] = metric
        ids = index_ids(trigger)
        if ids is None:
            self._unindexed.add(ident)
        else:
            for resource_id in ids:
                self._by_resource.setdefault(resource_id, set()).add(ident)

    def untrack(self, automation_id: str, trigger_id: str) -> None:
        ident = (automation_id, trigger_id)
        metric = self._triggers.pop(ident, None)
        if metric is None:
            return
        metric.delete_rows(self._deleted)
        self._unindexed.discard(ident)
        for resource_id in index_ids(metric.trigger) or ():
            indexed = self._by_resource.get(resource_id)
            if indexed is not None:
                indexed.discard(ident)
                if not indexed:
                    del self._by_resource[resource_id]

    def prune_unknown(self) -> None:
        for rows in self._restored.values():
            for row in rows:
                self._deleted.delete(row.kind, row.key)
        self._restored = {}

    # -- evaluation -----------------------------------------------------------------------

    def observe(self, event: Event, as_of: datetime, now: datetime) -> None:
        """Record a flow-run state event for every trigger whose scope covers it, and
        evaluate those triggers at `as_of`."""
        if not self._triggers:
            return
        state = flow_run_state(event)
        if state is None:
            return
        run_id, entry = state
        for ident in sorted(self._candidates(event)):
            metric = self._triggers[ident]
            if not covers_run(metric.trigger, event):
                continue
            # Catch up with the old contributions first: the event changes them from now on.
            metric.advance(as_of, now, self._emit)
            timeline = metric.runs.get(run_id)
            if timeline is None:
                timeline = RunTimeline(run_id)
            if not timeline.add(entry):
                continue  # a replayed event
            metric.put_run(timeline)
            metric.reevaluate(now, self._emit)

    def _candidates(self, event: Event) -> set[tuple[str, str]]:
        found = set(self._unindexed)
        for resource in (event.resource, *event.related):
            indexed = self._by_resource.get(resource.get("prefect.resource.id", ""))
            if indexed:
                found |= indexed
        return found

    def run_due(self, as_of: datetime, now: datetime) -> None:
        """Evaluate triggers with a change point at or before `as_of`; prune old runs."""
        for ident in sorted(self._triggers):
            metric = self._triggers[ident]
            change = metric.next_change()
            if change is not None and change <= as_of:
                metric.advance(as_of, now, self._emit)
            metric.prune(as_of)

    def next_deadline(self) -> datetime | None:
        """The earliest events-clock time at which a pending transition completes.

        Contributions leaving the range are not deadlines (a busy trigger would wake the
        service for every run): the periodic `run_due` (≤ 5 s apart) catches up with them
        exactly, so a transition that starts there is found in time for its deadline."""
        times = [t for m in self._triggers.values() if (t := m.pending_deadline()) is not None]
        return min(times) if times else None

    # -- state ----------------------------------------------------------------------------

    def rows(self) -> list[StateRow]:
        rows: list[StateRow] = []
        for ident in sorted(self._triggers):
            rows.extend(self._triggers[ident].rows())
        return rows

    def write_changes(self, log: ChangeLog) -> None:
        for kind, key in self._deleted.take().deletes:
            log.delete(kind, key)
        for metric in self._triggers.values():
            metric.write_changes(log)

    def value(self, automation_id: str, trigger_id: str) -> float | None:
        """The metric value at the trigger's last evaluation (for inspection and tests)."""
        metric = self._triggers.get((automation_id, trigger_id))
        return metric.status.value if metric is not None else None
