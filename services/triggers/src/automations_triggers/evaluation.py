"""The event-trigger state machine: Prefect's buckets (reference §3.3-§3.5), plus Resolved.

Deliberate differences from Prefect (DESIGN.md §4), each tested:
- a proactive trigger that fired for a key resolves (one Resolved firing) when the next
  expected event for that key arrives that is not older than the fired window's start; the
  bucket keeps the pending Triggered firing's id in `fired` (a closed bucket holds it when
  the window itself is gone);
- proactive buckets are evaluated at their exact end (the caller sleeps until
  `next_deadline`), not on a 5 s poll; buckets whose expectations are met are dropped as soon
  as that happens rather than on the next poll;
- the global bucket of a proactive trigger is ensured only without `after` (Prefect also
  arms triggers with `after`, which then fire every `within` without any `after` event).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from automations_common.ids import derived_id
from automations_triggers.matching import (
    bucketing_key,
    expects,
    starts_after,
    triggering_labels,
)
from automations_triggers.model import Event, EventTrigger, Firing, Posture, TriggerState
from automations_triggers.state import Bucket, BucketTable, Key

# Implicit windows are back-dated so that slightly out-of-order events still count (§3.3).
PRECEDING_EVENT_LOOKBACK = timedelta(minutes=15)
# Closed reactive buckets are kept this long past their end before they are swept (§3.6).
EXPIRED_BUCKET_BUFFER = timedelta(seconds=60)
# How long a fired key (whose window is gone) can still be resolved; bounds the memory of
# keys that never see their expected event (a flow run that vanished).
RESOLVE_RETENTION = timedelta(days=7)

Emit = Callable[[str, EventTrigger, Firing], None]
Resolve = Callable[[str, str], EventTrigger | None]


class EventTriggerEvaluation:
    """Runs event triggers over a BucketTable and hands every firing to `emit`."""

    __slots__ = ("_emit", "_ensure_pending", "_table")

    def __init__(self, table: BucketTable, emit: Emit) -> None:
        self._table = table
        self._emit = emit
        # Proactive triggers without for_each whose global bucket must be (re)created.
        self._ensure_pending: set[tuple[str, str]] = set()

    # -- bookkeeping ---------------------------------------------------------------------

    def track(self, automation_id: str, trigger: EventTrigger) -> None:
        """A trigger was loaded: schedule its global proactive bucket if it needs one."""
        if _keeps_global_bucket(trigger):
            self._ensure_pending.add((automation_id, trigger.id))

    def untrack(self, automation_id: str, trigger: EventTrigger) -> None:
        self._ensure_pending.discard((automation_id, trigger.id))
        self._table.drop_trigger(automation_id, trigger.id)

    @property
    def has_pending_ensure(self) -> bool:
        return bool(self._ensure_pending)

    # -- reactive path, per event (§3.3) --------------------------------------------------

    def react(self, automation_id: str, trigger: EventTrigger, event: Event, now: datetime) -> None:
        """Evaluate one covered event; `now` is the wall clock stamped on firings."""
        key = bucketing_key(trigger, event)
        expected = expects(trigger, event.event)
        bucket: Bucket | None = None
        if trigger.after and starts_after(trigger, event.event):
            initial = -1 if expected else 0
            end = event.occurred + trigger.within
            bucket = self._ensure(automation_id, trigger, key, event.occurred, end, initial, event)
        if bucket is None and not trigger.after and expected:
            start = event.occurred - PRECEDING_EVENT_LOOKBACK
            end = event.occurred + trigger.within
            bucket = self._ensure(automation_id, trigger, key, start, end, 0, event)
        if not expected:
            return
        if bucket is None:
            bucket = self._table.get(automation_id, trigger.id, key)
            if bucket is None:
                return
        stale = event.occurred < bucket.start
        if bucket.open:
            self._evaluate(automation_id, trigger, bucket, event.occurred, event, now)
        current = self._table.get(automation_id, trigger.id, key)
        if current is None:
            return
        if current.fired is not None and not stale:
            self._resolve(trigger, current, event, now)
        if (
            trigger.posture is Posture.PROACTIVE
            and current.open
            and current.count >= trigger.threshold
        ):
            self._drop(trigger, current, min(event.occurred, now))

    # -- proactive path (§3.5) ------------------------------------------------------------

    def run_due(
        self, as_of: datetime, now: datetime, resolve: Resolve, limit: int | None = None
    ) -> None:
        """Fire proactive buckets whose end is at or before `as_of` (the events clock); at
        most `limit` of them (the rest stay due for the next call)."""
        for automation_id, trigger_id in sorted(self._ensure_pending):
            trigger = resolve(automation_id, trigger_id)
            if trigger is None:
                continue
            existing = self._table.get(automation_id, trigger_id, ())
            if existing is None or not existing.open:
                fired = existing.fired if existing else None
                end = as_of + trigger.within
                self._new(automation_id, trigger, (), as_of, end, 0, None, fired)
        self._ensure_pending.clear()
        left = limit if limit is not None else -1
        while left != 0 and (bucket := self._table.pop_due(as_of)) is not None:
            left -= 1
            trigger = resolve(bucket.automation_id, bucket.trigger_id)
            if trigger is None:
                self._table.delete(bucket)
            elif bucket.count >= trigger.threshold:
                self._drop(trigger, bucket, as_of)
            else:
                self._evaluate(bucket.automation_id, trigger, bucket, as_of, None, now)

    def sweep(self, as_of: datetime) -> None:
        """Delete reactive buckets closed for longer than the buffer (§3.6), and fired keys
        that have waited longer than RESOLVE_RETENTION for their resolution."""
        while (bucket := self._table.pop_expired(as_of - EXPIRED_BUCKET_BUFFER)) is not None:
            self._table.delete(bucket)
        while (bucket := self._table.pop_closed(as_of - RESOLVE_RETENTION)) is not None:
            self._table.delete(bucket)

    # -- the core (§3.4) ------------------------------------------------------------------

    def _evaluate(
        self,
        automation_id: str,
        trigger: EventTrigger,
        bucket: Bucket,
        now: datetime,
        event: Event | None,
        wall_now: datetime,
    ) -> Bucket | None:
        pending = event is not None
        if now < bucket.start:
            return bucket
        if event is not None and (trigger.immediate or bucket.start <= now < bucket.end):
            bucket.count += 1
            bucket.last_event = event
            pending = False
            self._table.touch(bucket)
        reactive = trigger.posture is Posture.REACTIVE
        ready = reactive or bucket.end <= now
        meets = bucket.count >= trigger.threshold if reactive else bucket.count < trigger.threshold
        fired = bucket.fired
        if ready and meets:
            firing = self._fire(automation_id, trigger, bucket, event, wall_now)
            if not reactive:
                fired = firing.id
            self._table.delete(bucket)
        elif now < bucket.end:
            if (
                event is not None
                and not reactive
                and not meets
                and starts_after(trigger, event.event)
                and expects(trigger, event.event)
            ):
                # A repeat of an event that both arms and is expected restarts the window.
                self._table.delete(bucket)
                end = event.occurred + trigger.within
                return self._put(trigger, bucket, event.occurred, end, 0, event, fired)
            return bucket
        if trigger.after:
            self._table.delete(bucket)
            if fired is not None:
                # Keep only the memory that this key awaits resolution (a closed bucket's
                # last event is never read again).
                bucket.fired = fired
                bucket.open = False
                bucket.last_event = None
                self._table.put(bucket)
            return None
        if not trigger.within:
            return None
        start = max(bucket.end, now)
        end = start + trigger.within
        if reactive and pending:
            # The event lies beyond the old window: open the next one and count it there.
            carried = bucket.packed_last_event
            fresh = self._put(trigger, bucket, start, end, 0, carried, fired)
            return self._evaluate(automation_id, trigger, fresh, now, event, wall_now)
        last = event if event is not None else bucket.packed_last_event
        return self._put(trigger, bucket, start, end, 1 if pending else 0, last, fired)

    def _fire(
        self,
        automation_id: str,
        trigger: EventTrigger,
        bucket: Bucket,
        event: Event | None,
        wall_now: datetime,
    ) -> Firing:
        triggering_event = event if event is not None else bucket.last_event
        firing = Firing(
            id=derived_id(
                "triggered",
                automation_id,
                trigger.id,
                _key_text(bucket.key),
                bucket.start.isoformat(),
                triggering_event.id if triggering_event else "",
            ),
            trigger_id=trigger.id,
            automation_id=automation_id,
            states=frozenset({TriggerState.TRIGGERED}),
            triggered=wall_now,
            triggering_labels=triggering_labels(trigger, bucket.key),
            triggering_event=triggering_event,
        )
        self._emit(automation_id, trigger, firing)
        return firing

    def _resolve(self, trigger: EventTrigger, bucket: Bucket, event: Event, now: datetime) -> None:
        assert bucket.fired is not None
        firing = Firing(
            id=derived_id("resolved", bucket.fired),
            trigger_id=trigger.id,
            automation_id=bucket.automation_id,
            states=frozenset({TriggerState.RESOLVED}),
            triggered=now,
            triggering_labels=triggering_labels(trigger, bucket.key),
            triggering_event=event,
        )
        bucket.fired = None
        if bucket.open:
            self._table.touch(bucket)
        else:
            self._table.delete(bucket)
        self._emit(bucket.automation_id, trigger, firing)

    def _ensure(
        self,
        automation_id: str,
        trigger: EventTrigger,
        key: Key,
        start: datetime,
        end: datetime,
        count: int,
        event: Event,
    ) -> Bucket:
        """Insert-or-no-op: an open bucket only takes the event as its `last_event`."""
        existing = self._table.get(automation_id, trigger.id, key)
        if existing is not None and existing.open:
            existing.last_event = event
            self._table.touch(existing)
            return existing
        fired = existing.fired if existing is not None else None
        return self._new(automation_id, trigger, key, start, end, count, event, fired)

    def _put(
        self,
        trigger: EventTrigger,
        old: Bucket,
        start: datetime,
        end: datetime,
        count: int,
        last_event: Event | bytes | None,
        fired: str | None,
    ) -> Bucket:
        return self._new(old.automation_id, trigger, old.key, start, end, count, last_event, fired)

    def _new(
        self,
        automation_id: str,
        trigger: EventTrigger,
        key: Key,
        start: datetime,
        end: datetime,
        count: int,
        last_event: Event | bytes | None,
        fired: str | None,
    ) -> Bucket:
        proactive = trigger.posture is Posture.PROACTIVE
        bucket = Bucket(
            automation_id, trigger.id, key, start, end, count, last_event, fired, True, proactive
        )
        self._table.put(bucket)
        return bucket

    def _drop(self, trigger: EventTrigger, bucket: Bucket, as_of: datetime) -> None:
        """A proactive window whose expectations are met is not needed any more (§3.5 step 3).

        The global bucket is re-created at once from `as_of` (Prefect does it on its next
        poll, with the events clock then).
        """
        self._table.delete(bucket)
        if _keeps_global_bucket(trigger):
            end = as_of + trigger.within
            self._new(bucket.automation_id, trigger, (), as_of, end, 0, None, bucket.fired)
        elif bucket.fired is not None:
            bucket.open = False
            bucket.last_event = None
            self._table.put(bucket)


def _keeps_global_bucket(trigger: EventTrigger) -> bool:
    return trigger.posture is Posture.PROACTIVE and not trigger.for_each and not trigger.after


def _key_text(key: Key) -> str:
    return json.dumps(list(key), separators=(",", ":"))
