"""The trigger engine facade: automations in, firings and state changes out (pure, no I/O).

Contract for the service that drives it (one Engine per workspace, called from one task;
nothing in it blocks or awaits):

    Engine(*, persist_seen: bool = True, seen_limit: int = 10_000)
    restore_state(rows: Iterable[StateRow]) -> None
    load(automations: Iterable[Automation]) -> StateChanges
    upsert(automation: Automation) -> StateChanges
    remove(automation_id: str) -> StateChanges
    process(events: Sequence[Event], now: datetime) -> Result      # Result(firings, changes)
    caught_up() -> None                  # the stream is drained: events clock = wall clock
    due(now: datetime, limit: int | None = None) -> Result
    next_deadline() -> datetime | None
    export_state() -> list[StateRow]
    offset -> timedelta; automation_ids -> frozenset[str]

- Start-up: `restore_state(rows)` with every persisted StateRow, THEN `load(automations)`
  with all automations (disabled ones are simply not evaluated); `load` returns the deletes
  of state whose automation or trigger no longer exists: write them.
- Automation changes: `upsert(automation)` (created, updated, paused with `enabled=False`)
  and `remove(automation_id)`. A changed trigger, a pause or a removal drops that
  automation's state; an update that leaves the trigger equal keeps it.
- Events: `process(events, now)` with a batch in stream order and the wall clock (stamped
  on firings as `triggered`). Commit `result.changes` (upsert each row by (kind, key), then
  delete each (kind, key)) in the same transaction as the outbox built from
  `result.firings`; then publish, then ack. A redelivered event whose evaluation was
  committed is dropped as a duplicate: its "seen" row came back with the state
  (`persist_seen`, the default).
- Deadlines: sleep until `next_deadline()` (None: nothing scheduled; a time in the past:
  call at once), but at most ~5 s (closed reactive buckets are swept there), then call
  `due(now)` and commit/publish its Result the same way.
  Proactive ends are shifted by the events-clock lag: `next_deadline` = end - offset.
  The automations' own events (`prefect.automation.*`) are evaluated but never move the
  events clock: their lag is ours, not the producers'.
- `firings` are automation-level firings only (the root trigger's), in evaluation order;
  `states` is {Triggered} or {Resolved}. Ids are deterministic, so replaying the same
  events (or deadlines) over the same restored state gives the same ids.
- Every call's StateChanges contains only what changed since the previous call.
- Metric triggers (metrics.py) run on the same events and deadlines; their firings are
  `MetricFiring`s carrying `triggering_value`.

Rows: `StateRow(kind, key, automation_id, data)` with kinds "bucket", "child_firing",
"follower", "seen", "metric", "metric_run"; one table `(workspace, kind, key) primary key,
automation_id, data JSON` can hold them all. "seen" rows (one per event, deleted 30 min
later or beyond `seen_limit`) let a follower whose leader came before a restart go at once; with
`persist_seen=False` such a follower waits the full 15 minutes instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from automations_triggers.composite import CompositeEvaluation
from automations_triggers.evaluation import EventTriggerEvaluation
from automations_triggers.index import TriggerIndex
from automations_triggers.matching import covers_resources
from automations_triggers.metrics import ROW_KINDS as METRIC_ROW_KINDS
from automations_triggers.metrics import MetricEvaluation
from automations_triggers.model import (
    Automation,
    CompositeTrigger,
    CompoundTrigger,
    Event,
    EventTrigger,
    Firing,
    MetricTrigger,
    SequenceTrigger,
    Trigger,
    TriggerState,
)
from automations_triggers.ordering import SEEN_LIMIT, CausalOrdering
from automations_triggers.state import (
    BUCKET,
    CHILD_FIRING,
    Bucket,
    BucketTable,
    ChangeLog,
    StateChanges,
    StateRow,
)

# Prefect does not evaluate log events against triggers.
SKIPPED_EVENTS = frozenset({"prefect.log.write"})
DUE_NOW = datetime(1970, 1, 1, tzinfo=UTC)
# The automations' own events (triggers' and actions' state changes): not producer lag.
SELF_EVENT_PREFIX = "prefect.automation."


@dataclass(slots=True)
class Result:
    """What one call produced: root firings to act on, and the state to commit with them."""

    firings: list[Firing] = field(default_factory=list)
    changes: StateChanges = field(default_factory=StateChanges)


@dataclass(frozen=True, slots=True)
class _Registered:
    automation: Automation
    event_triggers: tuple[EventTrigger, ...]
    composite_ids: tuple[str, ...]
    child_ids: tuple[str, ...]
    metric_ids: tuple[str, ...] = ()


class Engine:
    """Evaluates every loaded automation's trigger over events and deadlines."""

    def __init__(self, *, persist_seen: bool = True, seen_limit: int = SEEN_LIMIT) -> None:
        self._registered: dict[str, _Registered] = {}
        self._event_triggers: dict[tuple[str, str], EventTrigger] = {}
        self._parents: dict[tuple[str, str], CompositeTrigger] = {}
        self._roots: dict[str, str] = {}
        self._index = TriggerIndex()
        self._table = BucketTable()
        self._events = EventTriggerEvaluation(self._table, self._on_event_trigger_firing)
        self._composites = CompositeEvaluation(self._on_composite_firing)
        self._metrics = MetricEvaluation(self._on_metric_firing)
        self._ordering = CausalOrdering(persist_seen=persist_seen, seen_limit=seen_limit)
        self._offset = timedelta(0)
        self._now = DUE_NOW
        self._out: list[Firing] = []

    # -- automations ----------------------------------------------------------------------

    def load(self, automations: Iterable[Automation]) -> StateChanges:
        """Replace the loaded set; drop the state of automations and triggers now unknown."""
        wanted = {a.id: a for a in automations}
        for automation_id in [a for a in self._registered if a not in wanted]:
            self._unregister(automation_id)
        for automation in wanted.values():
            self._apply(automation)
        for bucket in list(self._table):
            if (bucket.automation_id, bucket.trigger_id) not in self._event_triggers:
                self._table.delete(bucket)
        for row in self._composites.rows():
            parent_id = row.data["parent_id"]
            if not self._is_composite(row.automation_id, parent_id):
                self._composites.drop(row.automation_id, [parent_id])
        self._metrics.prune_unknown()
        return self._changes()

    def upsert(self, automation: Automation) -> StateChanges:
        self._apply(automation)
        return self._changes()

    def remove(self, automation_id: str) -> StateChanges:
        self._unregister(automation_id)
        return self._changes()

    @property
    def automation_ids(self) -> frozenset[str]:
        return frozenset(self._registered)

    # -- events and time ------------------------------------------------------------------

    def process(self, events: Sequence[Event], now: datetime) -> Result:
        """Evaluate a batch of events (stream order) at wall-clock `now`."""
        self._now = now
        for event in events:
            # The events clock follows arrivals, not released followers (those are old by
            # design). `received` measures our own backlog; `occurred` is Prefect's choice
            # and the fallback, but one late-reported event would then stall every deadline.
            # Our own state-change events (prefect.automation.*) do not move it: they say
            # nothing about producers, and a burst of firings would otherwise postpone the
            # next deadlines by the time it takes to read that burst back.
            if not event.event.startswith(SELF_EVENT_PREFIX):
                self._offset = min(event.received or event.occurred, now) - now
            # Metrics order each run's states by time themselves: no need to wait for `follows`.
            self._metrics.observe(event, now + self._offset, now)
            for ready in self._ordering.admit(event, now):
                self._evaluate(ready, now)
        return self._result()

    def caught_up(self) -> None:
        """Nothing is left to process on the stream: the events clock is the wall clock
        (otherwise the lag of the last batch would delay every deadline until the next)."""
        self._offset = timedelta(0)

    def due(self, now: datetime, limit: int | None = None) -> Result:
        """Fire proactive deadlines (at most `limit` buckets; then `next_deadline` is still
        in the past), release lost followers and sweep closed buckets."""
        self._now = now
        for event in self._ordering.release_lost(now):
            self._evaluate(event, now)
        as_of = now + self._offset
        self._metrics.run_due(as_of, now)
        self._events.run_due(as_of, now, self._event_trigger, limit)
        self._events.sweep(as_of)
        return self._result()

    def next_deadline(self) -> datetime | None:
        """The wall-clock time `due` has work to do next (proactive ends, lost followers)."""
        if self._events.has_pending_ensure:
            return DUE_NOW
        times = []
        end = self._table.next_deadline()
        if end is not None:
            times.append(end - self._offset)
        follower = self._ordering.next_deadline()
        if follower is not None:
            times.append(follower)
        metric = self._metrics.next_deadline()
        if metric is not None:
            times.append(metric - self._offset)
        return min(times) if times else None

    @property
    def offset(self) -> timedelta:
        """The events-clock lag (≤ 0): the last event's `received` (else `occurred`) minus the
        wall clock when it was processed."""
        return self._offset

    # -- state ----------------------------------------------------------------------------

    def export_state(self) -> list[StateRow]:
        rows = [bucket.to_row() for bucket in self._table]
        rows.extend(self._composites.rows())
        rows.extend(self._ordering.rows())
        rows.extend(self._metrics.rows())
        return rows

    def restore_state(self, rows: Iterable[StateRow]) -> None:
        """Reload persisted rows; call before `load`."""
        rows = list(rows)
        self._table.restore(Bucket.from_row(r) for r in rows if r.kind == BUCKET)
        self._composites.restore(r for r in rows if r.kind == CHILD_FIRING)
        self._metrics.restore(r for r in rows if r.kind in METRIC_ROW_KINDS)
        self._ordering.restore(
            r for r in rows if r.kind not in (BUCKET, CHILD_FIRING, *METRIC_ROW_KINDS)
        )

    # -- internals ------------------------------------------------------------------------

    def _evaluate(self, event: Event, now: datetime) -> None:
        if event.event in SKIPPED_EVENTS:
            return
        for ref in sorted(self._index.candidates(event)):
            trigger = self._index.trigger(ref)
            if covers_resources(trigger, event):
                self._events.react(ref[0], trigger, event, now)

    def _event_trigger(self, automation_id: str, trigger_id: str) -> EventTrigger | None:
        return self._event_triggers.get((automation_id, trigger_id))

    def _on_event_trigger_firing(
        self, automation_id: str, trigger: EventTrigger, firing: Firing
    ) -> None:
        self._route(automation_id, trigger.id, firing)

    def _on_composite_firing(
        self, automation_id: str, trigger: CompositeTrigger, firing: Firing
    ) -> None:
        self._route(automation_id, trigger.id, firing)

    def _on_metric_firing(self, automation_id: str, trigger: MetricTrigger, firing: Firing) -> None:
        self._route(automation_id, trigger.id, firing)

    def _route(self, automation_id: str, trigger_id: str, firing: Firing) -> None:
        if self._roots.get(automation_id) == trigger_id:
            self._out.append(firing)
            return
        parent = self._parents.get((automation_id, trigger_id))
        # Composites combine Triggered firings only; a child's resolution stays internal.
        if parent is not None and TriggerState.TRIGGERED in firing.states:
            self._composites.child_fired(automation_id, parent, firing, self._now)

    def _apply(self, automation: Automation) -> None:
        current = self._registered.get(automation.id)
        if (
            current is not None
            and automation.enabled
            and current.automation.trigger == automation.trigger
        ):
            self._registered[automation.id] = _Registered(
                automation,
                current.event_triggers,
                current.composite_ids,
                current.child_ids,
                current.metric_ids,
            )
            return
        self._unregister(automation.id)
        if automation.enabled:
            self._register(automation)

    def _register(self, automation: Automation) -> None:
        event_triggers: list[EventTrigger] = []
        composite_ids: list[str] = []
        child_ids: list[str] = []
        metric_ids: list[str] = []

        def walk(trigger: Trigger, parent: CompositeTrigger | None) -> None:
            if parent is not None:
                self._parents[(automation.id, trigger.id)] = parent
                child_ids.append(trigger.id)
            if isinstance(trigger, EventTrigger):
                event_triggers.append(trigger)
                self._event_triggers[(automation.id, trigger.id)] = trigger
                self._index.add(automation.id, trigger)
                self._events.track(automation.id, trigger)
            elif isinstance(trigger, CompoundTrigger | SequenceTrigger):
                composite_ids.append(trigger.id)
                for child in trigger.triggers:
                    walk(child, trigger)
            elif isinstance(trigger, MetricTrigger):
                metric_ids.append(trigger.id)
                self._metrics.track(automation.id, trigger)

        walk(automation.trigger, None)
        self._roots[automation.id] = automation.trigger.id
        self._registered[automation.id] = _Registered(
            automation,
            tuple(event_triggers),
            tuple(composite_ids),
            tuple(child_ids),
            tuple(metric_ids),
        )

    def _unregister(self, automation_id: str) -> None:
        registered = self._registered.pop(automation_id, None)
        if registered is None:
            return
        for trigger in registered.event_triggers:
            self._index.remove(automation_id, trigger.id)
            self._events.untrack(automation_id, trigger)
            self._event_triggers.pop((automation_id, trigger.id), None)
        self._composites.drop(automation_id, registered.composite_ids)
        for trigger_id in registered.metric_ids:
            self._metrics.untrack(automation_id, trigger_id)
        for child_id in registered.child_ids:
            self._parents.pop((automation_id, child_id), None)
        self._roots.pop(automation_id, None)

    def _is_composite(self, automation_id: str, trigger_id: str) -> bool:
        registered = self._registered.get(automation_id)
        return registered is not None and trigger_id in registered.composite_ids

    def _result(self) -> Result:
        firings, self._out = self._out, []
        return Result(firings, self._changes())

    def _changes(self) -> StateChanges:
        log = ChangeLog()
        self._table.write_changes(log)
        self._composites.write_changes(log)
        self._ordering.write_changes(log)
        self._metrics.write_changes(log)
        return log.take()
