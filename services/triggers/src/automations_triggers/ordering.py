"""Causal ordering (`follows`) and duplicate suppression ahead of evaluation (§1.4).

Unlike Prefect's default in-memory module, the waiting followers (and, optionally, the seen
set) are state rows, so nothing parked is lost when the process restarts. The seen set is
persisted as one row per engine call (a batch: `{"at", "ids"}`), deleted once every id in
it has been forgotten, so a batch of 256 events costs one row write, not 256 plus 256
deletes. (Rows of the older form, one per event id with `{"at"}`, are still read.)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from automations_triggers.model import Event, parse_time
from automations_triggers.state import FOLLOWER, SEEN, ChangeLog, StateRow

PRECEDING_EVENT_LOOKBACK = timedelta(minutes=15)
SEEN_EXPIRATION = timedelta(minutes=30)
SEEN_LIMIT = 10_000
MAX_DEPTH_OF_PRECEDING_EVENT = 20


class CausalOrdering:
    """Decides when each event may be evaluated: once, and after the event it follows."""

    __slots__ = (
        "_batch_of",
        "_batches",
        "_followers",
        "_leader_of",
        "_log",
        "_new_seen",
        "_persist_seen",
        "_seen",
        "_seen_limit",
    )

    def __init__(self, persist_seen: bool = True, seen_limit: int = SEEN_LIMIT) -> None:
        self._seen: OrderedDict[str, datetime] = OrderedDict()
        # leader id -> follower id -> (follower, when it started waiting)
        self._followers: dict[str, dict[str, tuple[Event, datetime]]] = {}
        self._leader_of: dict[str, str] = {}
        self._persist_seen = persist_seen
        self._seen_limit = seen_limit
        self._log = ChangeLog()
        # Persisted seen rows: row key -> (its row, how many of its ids are still seen);
        # which row holds each seen id; ids seen since the last write_changes.
        self._batches: dict[str, tuple[StateRow, int]] = {}
        self._batch_of: dict[str, str] = {}
        self._new_seen: list[str] = []

    @property
    def waiting(self) -> int:
        return len(self._leader_of)

    def admit(self, event: Event, now: datetime) -> list[Event]:
        """The events to evaluate now, in order: this one and the followers it releases."""
        self._expire_seen(now)
        if event.id in self._seen or event.id in self._leader_of:
            return []
        leader = event.follows
        arrived = event.received or now
        if (
            leader
            and leader != event.id
            and now - arrived < PRECEDING_EVENT_LOOKBACK
            and leader not in self._seen
        ):
            self._park(leader, event, arrived)
            return []
        released: list[Event] = []
        self._release(event, now, 0, released)
        return released

    def release_lost(self, now: datetime) -> list[Event]:
        """Followers that waited the whole lookback for a leader that never came."""
        self._expire_seen(now)
        lost = [
            event
            for waiting in self._followers.values()
            for event, since in waiting.values()
            if now - since >= PRECEDING_EVENT_LOOKBACK
        ]
        released: list[Event] = []
        for event in sorted(lost, key=lambda e: (e.occurred, e.id)):
            if event.id in self._leader_of:
                self._release(event, now, 0, released)
        return released

    def next_deadline(self) -> datetime | None:
        """When the earliest waiting follower stops waiting."""
        starts = [since for w in self._followers.values() for _, since in w.values()]
        return min(starts) + PRECEDING_EVENT_LOOKBACK if starts else None

    def write_changes(self, log: ChangeLog) -> None:
        fresh = [i for i in self._new_seen if i in self._seen and i not in self._batch_of]
        self._new_seen = []
        if fresh:
            at = max(self._seen[i] for i in fresh)
            row = StateRow(SEEN, f"{at.isoformat()}/{fresh[0]}", "", _seen_data(at, fresh))
            self._batches[row.key] = (row, len(fresh))
            for event_id in fresh:
                self._batch_of[event_id] = row.key
            self._log.upsert(row)
        changes = self._log.take()
        for row in changes.upserts:
            log.upsert(row)
        for kind, key in changes.deletes:
            log.delete(kind, key)

    def rows(self) -> list[StateRow]:
        rows = [
            _follower_row(leader, event, since)
            for leader, waiting in self._followers.items()
            for event, since in waiting.values()
        ]
        rows.extend(row for row, _ in self._batches.values())
        return rows

    def restore(self, rows: Iterable[StateRow]) -> None:
        seen = []
        for row in rows:
            if row.kind == FOLLOWER:
                event = Event.from_dict(row.data["event"])
                leader = row.data["leader"]
                since = parse_time(row.data["since"])
                self._followers.setdefault(leader, {})[event.id] = (event, since)
                self._leader_of[event.id] = leader
            elif row.kind == SEEN:
                at = parse_time(row.data["at"])
                ids = row.data.get("ids", [row.key])  # a row of the older form: one id
                for event_id in ids:
                    seen.append((at, event_id))
                    self._batch_of[event_id] = row.key
                self._batches[row.key] = (row, len(ids))
        for at, event_id in sorted(seen):
            self._seen[event_id] = at
        while len(self._seen) > self._seen_limit:
            self._forget_oldest()

    def _park(self, leader: str, event: Event, since: datetime) -> None:
        self._followers.setdefault(leader, {})[event.id] = (event, since)
        self._leader_of[event.id] = leader
        self._log.upsert(_follower_row(leader, event, since))

    def _release(self, event: Event, now: datetime, depth: int, out: list[Event]) -> None:
        leader = self._leader_of.pop(event.id, None)
        if leader is not None:
            waiting = self._followers.get(leader, {})
            waiting.pop(event.id, None)
            if not waiting:
                self._followers.pop(leader, None)
            self._log.delete(FOLLOWER, event.id)
        out.append(event)
        self._mark_seen(event.id, now)
        if depth >= MAX_DEPTH_OF_PRECEDING_EVENT:
            # Deeper chains keep waiting and are released as lost followers later.
            return
        followers = self._followers.get(event.id, {})
        for follower, _ in sorted(followers.values(), key=lambda f: (f[0].occurred, f[0].id)):
            self._release(follower, now, depth + 1, out)

    def _mark_seen(self, event_id: str, now: datetime) -> None:
        self._seen[event_id] = now
        self._seen.move_to_end(event_id)
        if self._persist_seen:
            # One row per call, built in write_changes.
            self._new_seen.append(event_id)
        while len(self._seen) > self._seen_limit:
            self._forget_oldest()

    def _expire_seen(self, now: datetime) -> None:
        cutoff = now - SEEN_EXPIRATION
        while self._seen and next(iter(self._seen.values())) < cutoff:
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        event_id, _ = self._seen.popitem(last=False)
        key = self._batch_of.pop(event_id, None)
        if key is None:
            return
        row, live = self._batches[key]
        if live > 1:
            self._batches[key] = (row, live - 1)
        else:
            del self._batches[key]
            self._log.delete(SEEN, key)


def _follower_row(leader: str, event: Event, since: datetime) -> StateRow:
    data = {"leader": leader, "since": since.isoformat(), "event": event.to_dict()}
    return StateRow(FOLLOWER, event.id, "", data)


def _seen_data(at: datetime, ids: list[str]) -> dict[str, Any]:
    return {"at": at.isoformat(), "ids": ids}
