"""SubscribeEvents: stored matching events first (bounded), then live ones from EVENTS.

The live side is an ephemeral ordered consumer that starts `live_overlap_seconds` before
the backfill began, so an event the persister had not stored yet is still delivered;
ids already sent are skipped. A subscriber that cannot keep up is told how many events
it missed (FellBehind) instead of losing them silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from automations.v1 import event_pb2
from automations_common.streams import Streams
from automations_ingest.convert import record_from_proto
from automations_ingest.event_queries import Cursor, EventQueries
from automations_ingest.events import EventRecord
from automations_ingest.filters import EventFilter
from automations_ingest.settings import SubscribeSettings

log = logging.getLogger(__name__)

SEEN_IDS_KEPT = 50_000


@dataclass(frozen=True)
class FellBehindNotice:
    skipped: int
    since: datetime


class _SeenIds:
    """The most recent ids sent, bounded, for deduplication across backfill and live."""

    def __init__(self, capacity: int) -> None:
        self._order: deque[str] = deque()
        self._ids: set[str] = set()
        self._capacity = capacity

    def add(self, event_id: str) -> bool:
        """False when the id was already sent."""
        if event_id in self._ids:
            return False
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._capacity:
            self._ids.discard(self._order.popleft())
        return True


class _LiveQueue:
    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[EventRecord] = asyncio.Queue(size)
        self.skipped = 0
        self.skipped_since: datetime | None = None

    def offer(self, record: EventRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except asyncio.QueueFull:
            self.skipped += 1
            if self.skipped_since is None or record.occurred < self.skipped_since:
                self.skipped_since = record.occurred

    def take_notice(self) -> FellBehindNotice | None:
        if not self.skipped or self.skipped_since is None:
            return None
        notice = FellBehindNotice(self.skipped, self.skipped_since)
        self.skipped, self.skipped_since = 0, None
        return notice


class EventTail:
    """Backfill-then-live streams of events for subscribers."""

    def __init__(
        self,
        js: JetStreamContext,
        streams: Streams,
        queries: EventQueries,
        settings: SubscribeSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._js = js
        self._streams = streams
        self._queries = queries
        self._settings = settings
        self._clock = clock

    async def follow(
        self, workspace: str, event_filter: EventFilter, backfill: bool
    ) -> AsyncIterator[EventRecord | FellBehindNotice]:
        started = self._clock()
        live = _LiveQueue(self._settings.queue_size)

        async def on_message(message: Msg) -> None:
            try:
                record = record_from_proto(event_pb2.Event.FromString(message.data), workspace)
            except (DecodeError, ValueError):
                return
            if event_filter.includes(record):
                live.offer(record)

        # Live first, so nothing falls between the backfill and the live stream.
        subscription = await self._js.subscribe(
            self._streams.events_subject(workspace),
            stream=self._streams.events_stream,
            cb=on_message,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_TIME,
                opt_start_time=started - timedelta(seconds=self._settings.live_overlap_seconds),
            ),
        )
        seen = _SeenIds(SEEN_IDS_KEPT)
        try:
            if backfill:
                async for record in self._backfill(workspace, event_filter, started):
                    if seen.add(record.id):
                        yield record
            while True:
                notice = live.take_notice()
                if notice is not None:
                    yield notice
                record = await live.queue.get()
                if seen.add(record.id):
                    yield record
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _backfill(
        self, workspace: str, event_filter: EventFilter, started: datetime
    ) -> AsyncIterator[EventRecord]:
        earliest = started - timedelta(seconds=self._settings.max_backfill_seconds)
        since = max(event_filter.since, earliest) if event_filter.since else earliest
        bounded = replace(event_filter, since=since, ascending=True)
        cursor: Cursor | None = None
        while True:
            page = await self._queries.page(
                workspace, bounded, self._settings.backfill_page_size, cursor
            )
            for record in page:
                yield record
            if len(page) < self._settings.backfill_page_size:
                return
            cursor = Cursor(page[-1].occurred, page[-1].id)
