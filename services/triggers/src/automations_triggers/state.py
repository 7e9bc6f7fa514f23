"""The engine's explicit state: buckets in memory, and the rows that persist all state."""

from __future__ import annotations

import heapq
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from automations_triggers.model import Event, parse_time

Key = tuple[str, ...]
BucketId = tuple[str, str, Key]  # (automation_id, trigger_id, bucketing key)

BUCKET = "bucket"
CHILD_FIRING = "child_firing"
FOLLOWER = "follower"
SEEN = "seen"


@dataclass(frozen=True, slots=True)
class StateRow:
    """One persisted piece of state; (kind, key) is unique, `data` is JSON-serializable.

    `automation_id` is empty for rows that belong to no automation (followers, seen events).
    """

    kind: str
    key: str
    automation_id: str
    data: dict[str, Any]


@dataclass(slots=True)
class StateChanges:
    """What to write in the batch's transaction: upsert these rows, delete these (kind, key)."""

    upserts: list[StateRow] = field(default_factory=list)
    deletes: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes)


class ChangeLog:
    """Collects the last write per (kind, key) during one engine call."""

    __slots__ = ("_rows",)

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], StateRow | None] = {}

    def upsert(self, row: StateRow) -> None:
        self._rows[(row.kind, row.key)] = row

    def delete(self, kind: str, key: str) -> None:
        self._rows[(kind, key)] = None

    def take(self) -> StateChanges:
        changes = StateChanges()
        for ident, row in self._rows.items():
            if row is None:
                changes.deletes.append(ident)
            else:
                changes.upserts.append(row)
        self._rows = {}
        return changes


class Bucket:
    """A counting window for one trigger and bucketing key.

    `fired` holds the id of a proactive Triggered firing still waiting to be Resolved. A
    bucket with `open` False is only that memory: no window, nothing counted, never swept.
    Once persisted, `last_event` is kept as compressed JSON: an event object costs ~3 KB,
    and the bucket rarely needs it again (a proactive firing, the next row write).
    """

    __slots__ = (
        "_last",
        "automation_id",
        "count",
        "end",
        "fired",
        "key",
        "open",
        "proactive",
        "start",
        "trigger_id",
    )

    def __init__(
        self,
        automation_id: str,
        trigger_id: str,
        key: Key,
        start: datetime,
        end: datetime,
        count: int,
        last_event: Event | bytes | None,
        fired: str | None = None,
        open: bool = True,
        proactive: bool = False,
    ) -> None:
        self.automation_id = automation_id
        self.trigger_id = trigger_id
        self.key = key
        self.start = start
        self.end = end
        self.count = count
        self._last = last_event
        self.fired = fired
        self.open = open
        self.proactive = proactive

    @property
    def last_event(self) -> Event | None:
        value = self._last
        if isinstance(value, bytes):
            return Event.from_dict(json.loads(zlib.decompress(value)))
        return value

    @last_event.setter
    def last_event(self, event: Event | None) -> None:
        self._last = event

    @property
    def packed_last_event(self) -> Event | bytes | None:
        """The last event as stored, to hand on to a successor without decoding it."""
        return self._last

    def pack(self, event_data: dict[str, Any] | None = None) -> None:
        """Compress the last event (its `to_dict` form may be passed to save work)."""
        if isinstance(self._last, Event):
            data = event_data if event_data is not None else self._last.to_dict()
            text = json.dumps(data, separators=(",", ":"))
            self._last = zlib.compress(text.encode(), 1)

    def _last_event_data(self) -> dict[str, Any] | None:
        # A packed event is already the JSON of `to_dict`: no Event round trip.
        value = self._last
        if isinstance(value, bytes):
            data: dict[str, Any] = json.loads(zlib.decompress(value))
            return data
        return value.to_dict() if value is not None else None

    @property
    def ident(self) -> BucketId:
        return (self.automation_id, self.trigger_id, self.key)

    def __repr__(self) -> str:
        return (
            f"Bucket({self.trigger_id}, {self.key}, [{self.start}, {self.end}), "
            f"count={self.count}, fired={self.fired}, open={self.open})"
        )

    def to_row(self) -> StateRow:
        return StateRow(
            BUCKET,
            bucket_row_key(self.ident),
            self.automation_id,
            {
                "automation_id": self.automation_id,
                "trigger_id": self.trigger_id,
                "key": list(self.key),
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "count": self.count,
                "last_event": self._last_event_data(),
                "fired": self.fired,
                "open": self.open,
                "proactive": self.proactive,
            },
        )

    @classmethod
    def from_row(cls, row: StateRow) -> Bucket:
        d = row.data
        last = d.get("last_event")
        return cls(
            d["automation_id"],
            d["trigger_id"],
            tuple(d["key"]),
            parse_time(d["start"]),
            parse_time(d["end"]),
            int(d["count"]),
            Event.from_dict(last) if last else None,
            d.get("fired"),
            bool(d.get("open", True)),
            bool(d.get("proactive", False)),
        )


def bucket_row_key(ident: BucketId) -> str:
    automation_id, trigger_id, key = ident
    return json.dumps([automation_id, trigger_id, list(key)], separators=(",", ":"))


class BucketTable:
    """All buckets by trigger, with deadline heaps for proactive ends and reactive sweeps."""

    __slots__ = ("_by_trigger", "_closed", "_deadlines", "_dirty", "_expiries", "_seq")

    def __init__(self) -> None:
        self._by_trigger: dict[tuple[str, str], dict[Key, Bucket]] = {}
        # (end, seq, bucket id): lazily invalidated; checked against the live bucket on pop.
        self._deadlines: list[tuple[datetime, int, BucketId]] = []
        self._expiries: list[tuple[datetime, int, BucketId]] = []
        self._closed: list[tuple[datetime, int, BucketId]] = []
        self._dirty: dict[BucketId, Bucket | None] = {}
        self._seq = 0

    def __len__(self) -> int:
        return sum(len(b) for b in self._by_trigger.values())

    def get(self, automation_id: str, trigger_id: str, key: Key) -> Bucket | None:
        buckets = self._by_trigger.get((automation_id, trigger_id))
        return buckets.get(key) if buckets else None

    def of_trigger(self, automation_id: str, trigger_id: str) -> list[Bucket]:
        return list(self._by_trigger.get((automation_id, trigger_id), {}).values())

    def __iter__(self) -> Iterator[Bucket]:
        for buckets in self._by_trigger.values():
            yield from buckets.values()

    def put(self, bucket: Bucket) -> None:
        """Store a new or replaced bucket and schedule its end."""
        self._by_trigger.setdefault((bucket.automation_id, bucket.trigger_id), {})[bucket.key] = (
            bucket
        )
        self._dirty[bucket.ident] = bucket
        self._seq += 1
        if not bucket.open:
            heap = self._closed
        else:
            heap = self._deadlines if bucket.proactive else self._expiries
        heapq.heappush(heap, (bucket.end, self._seq, bucket.ident))

    def touch(self, bucket: Bucket) -> None:
        """Record an in-place change (count, last_event, fired) for persistence."""
        self._dirty[bucket.ident] = bucket

    def delete(self, bucket: Bucket) -> None:
        buckets = self._by_trigger.get((bucket.automation_id, bucket.trigger_id))
        if buckets is not None and buckets.get(bucket.key) is bucket:
            del buckets[bucket.key]
            if not buckets:
                del self._by_trigger[(bucket.automation_id, bucket.trigger_id)]
            self._dirty[bucket.ident] = None

    def drop_trigger(self, automation_id: str, trigger_id: str) -> None:
        for bucket in self.of_trigger(automation_id, trigger_id):
            self.delete(bucket)

    def next_deadline(self) -> datetime | None:
        """The earliest end of an open proactive bucket."""
        while self._deadlines:
            end, _, ident = self._deadlines[0]
            if self._live(end, ident) is not None:
                return end
            heapq.heappop(self._deadlines)
        return None

    def pop_due(self, as_of: datetime) -> Bucket | None:
        """The next open proactive bucket whose end is at or before `as_of`."""
        return self._pop(self._deadlines, as_of)

    def pop_expired(self, as_of: datetime) -> Bucket | None:
        """The next open reactive bucket whose end is at or before `as_of`."""
        return self._pop(self._expiries, as_of)

    def pop_closed(self, as_of: datetime) -> Bucket | None:
        """The next closed bucket (a firing awaiting resolution) whose end is at or before."""
        return self._pop(self._closed, as_of, open=False)

    def _pop(
        self, heap: list[tuple[datetime, int, BucketId]], as_of: datetime, open: bool = True
    ) -> Bucket | None:
        while heap and heap[0][0] <= as_of:
            end, _, ident = heapq.heappop(heap)
            bucket = self._live(end, ident, open)
            if bucket is not None:
                return bucket
        return None

    def _live(self, end: datetime, ident: BucketId, open: bool = True) -> Bucket | None:
        bucket = self.get(*ident)
        if bucket is None or bucket.open is not open or bucket.end != end:
            return None
        return bucket

    def write_changes(self, log: ChangeLog) -> None:
        for ident, bucket in self._dirty.items():
            if bucket is None:
                log.delete(BUCKET, bucket_row_key(ident))
            else:
                row = bucket.to_row()
                log.upsert(row)
                bucket.pack(row.data["last_event"])
        self._dirty = {}

    def restore(self, buckets: Iterable[Bucket]) -> None:
        for bucket in buckets:
            bucket.pack()
            self.put(bucket)
        self._dirty = {}
