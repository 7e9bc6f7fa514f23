"""Reading stored events: pages bound to their query, and counts with Prefect's defaults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from automations_common.errors import InvalidArgument
from automations_common.paging import clamp_page_size, decode_page_token, encode_page_token
from automations_ingest.counting import time_bins
from automations_ingest.event_queries import Cursor, EventQueries, GroupCount
from automations_ingest.events import EventRecord
from automations_ingest.filters import EventFilter

PAGE_SIZE = 50
# Prefect's default window when a count has no `occurred` bounds.
DEFAULT_COUNT_DAYS = 180
COUNTABLES = ("day", "time", "event", "resource")


@dataclass(frozen=True)
class EventPage:
    records: list[EventRecord]
    total: int
    next_page_token: str


class EventReader:
    """The read use cases of the event store for one workspace."""

    def __init__(
        self, queries: EventQueries, workspace: str, clock: Callable[[], datetime]
    ) -> None:
        self._queries = queries
        self._workspace = workspace
        self._clock = clock

    async def page(
        self, event_filter: EventFilter, fingerprint: object, page_size: int, page_token: str
    ) -> EventPage:
        """One page, newest or oldest first as the filter says; the token carries the
        keyset position and the total, and is refused for another query."""
        size = clamp_page_size(page_size, PAGE_SIZE, PAGE_SIZE)
        query = {"filter": fingerprint, "page_size": size, "workspace": self._workspace}
        position = decode_page_token(page_token, query)
        cursor: Cursor | None = None
        total: int | None = None
        if position is not None:
            try:
                cursor = Cursor(datetime.fromisoformat(position["o"]), str(position["i"]))
                total = int(position["t"])
            except (KeyError, TypeError, ValueError):
                raise InvalidArgument.for_field(
                    "page_token", "is not a page token this service issued"
                ) from None
        records = await self._queries.page(self._workspace, event_filter, size + 1, cursor)
        more = len(records) > size
        records = records[:size]
        if total is None:
            total = await self._queries.total(self._workspace, event_filter)
        token = ""
        if more:
            last = records[-1]
            token = encode_page_token(
                query, {"o": last.occurred.isoformat(), "i": last.id, "t": total}
            )
        return EventPage(records, total, token)

    async def count(
        self, event_filter: EventFilter, countable: str, unit: str, interval: float
    ) -> list[GroupCount]:
        """Counts by `countable` (day, time, event or resource); time bins are zero-filled."""
        if countable in ("day", "time"):
            return await self._count_by_time(event_filter, countable, unit, interval)
        if countable == "event":
            return await self._queries.count_by_event(self._workspace, event_filter)
        if countable == "resource":
            return await self._queries.count_by_resource(self._workspace, event_filter)
        raise InvalidArgument.for_field(
            "countable", "choose what to count by: day, time, event or resource"
        )

    async def _count_by_time(
        self, event_filter: EventFilter, countable: str, unit: str, interval: float
    ) -> list[GroupCount]:
        now = self._clock()
        until = event_filter.until or now
        since = event_filter.since or (
            now.replace(hour=0, minute=0, second=0, microsecond=0)
            - timedelta(days=DEFAULT_COUNT_DAYS)
        )
        if countable == "day":
            unit, interval = "day", 1.0
        bins = time_bins(since, until, unit, interval)
        counts = await self._queries.count_by_time(
            self._workspace, event_filter.with_bounds(since, until), bins
        )
        groups = []
        for index, count in enumerate(counts):
            start, end = bins.bounds(index)
            label = start.date().isoformat() if countable == "day" else start.isoformat()
            groups.append(GroupCount(start.isoformat(), label, count, start, end))
        return groups
