"""EventsService over gRPC: converts requests and delegates to the publisher and the store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import grpc

from automations.v1 import events_service_pb2 as pb
from automations.v1 import events_service_pb2_grpc as pb_grpc
from automations_common.errors import InvalidArgument, ServiceError
from automations_common.paging import clamp_page_size, decode_page_token, encode_page_token
from automations_ingest.convert import (
    filter_fingerprint,
    filter_from_proto,
    record_to_proto,
    to_timestamp,
)
from automations_ingest.counting import time_bins
from automations_ingest.event_queries import Cursor, EventQueries, GroupCount
from automations_ingest.publisher import EmitOutcome, EventPublisher
from automations_ingest.tail import EventTail, FellBehindNotice

Context = grpc.aio.ServicerContext[Any, Any]

PAGE_SIZE = 50
# Prefect's default window when a count has no `occurred` bounds.
DEFAULT_COUNT_DAYS = 180

_UNITS = {
    pb.TIME_UNIT_UNSPECIFIED: "day",
    pb.TIME_UNIT_WEEK: "week",
    pb.TIME_UNIT_DAY: "day",
    pb.TIME_UNIT_HOUR: "hour",
    pb.TIME_UNIT_MINUTE: "minute",
    pb.TIME_UNIT_SECOND: "second",
}


def _rejected(outcome: EmitOutcome) -> list[pb.RejectedEvent]:
    return [
        pb.RejectedEvent(index=r.index, event_id=r.event_id, reason=r.reason, field=r.field)
        for r in outcome.rejected
    ]


def _count(group: GroupCount) -> pb.EventCount:
    return pb.EventCount(
        value=group.value,
        label=group.label,
        count=group.count,
        start_time=to_timestamp(group.first),
        end_time=to_timestamp(group.last),
    )


class EventsApi(pb_grpc.EventsServiceServicer):
    def __init__(
        self,
        publisher: EventPublisher,
        queries: EventQueries,
        tail: EventTail,
        workspace: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._publisher = publisher
        self._queries = queries
        self._tail = tail
        self._workspace = workspace
        self._clock = clock

    async def EmitEvents(  # noqa: N802
        self, request: pb.EmitEventsRequest, context: Context
    ) -> pb.EmitEventsResponse:
        outcome = await self._publisher.emit(request.events)
        return pb.EmitEventsResponse(
            accepted_count=len(outcome.accepted_ids),
            accepted_ids=outcome.accepted_ids,
            rejected=_rejected(outcome),
        )

    async def EmitEventStream(  # noqa: N802
        self, request_iterator: AsyncIterator[pb.EmitEventStreamRequest], context: Context
    ) -> AsyncIterator[pb.EmitEventStreamResponse]:
        async for request in request_iterator:
            try:
                outcome = await self._publisher.emit(request.events)
            except ServiceError as exc:
                # One bad or failed batch does not end the stream: the ack says why.
                yield pb.EmitEventStreamResponse(batch_id=request.batch_id, error=exc.message)
                continue
            yield pb.EmitEventStreamResponse(
                batch_id=request.batch_id,
                accepted_count=len(outcome.accepted_ids),
                accepted_ids=outcome.accepted_ids,
                rejected=_rejected(outcome),
            )

    async def QueryEvents(  # noqa: N802
        self, request: pb.QueryEventsRequest, context: Context
    ) -> pb.QueryEventsResponse:
        event_filter = filter_from_proto(request.filter)
        page_size = clamp_page_size(request.page_size, PAGE_SIZE, PAGE_SIZE)
        query = {
            "filter": filter_fingerprint(request.filter),
            "page_size": page_size,
            "workspace": self._workspace,
        }
        position = decode_page_token(request.page_token, query)
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
        records = await self._queries.page(self._workspace, event_filter, page_size + 1, cursor)
        more = len(records) > page_size
        records = records[:page_size]
        if total is None:
            total = await self._queries.total(self._workspace, event_filter)
        token = ""
        if more:
            last = records[-1]
            token = encode_page_token(
                query, {"o": last.occurred.isoformat(), "i": last.id, "t": total}
            )
        return pb.QueryEventsResponse(
            events=[record_to_proto(r) for r in records], total_size=total, next_page_token=token
        )

    async def CountEvents(  # noqa: N802
        self, request: pb.CountEventsRequest, context: Context
    ) -> pb.CountEventsResponse:
        event_filter = filter_from_proto(request.filter)
        countable = request.countable
        if countable in (pb.COUNTABLE_DAY, pb.COUNTABLE_TIME):
            now = self._clock()
            until = event_filter.until or now
            since = event_filter.since or (
                now.replace(hour=0, minute=0, second=0, microsecond=0)
                - timedelta(days=DEFAULT_COUNT_DAYS)
            )
            if countable == pb.COUNTABLE_DAY:
                unit, interval = "day", 1.0
            else:
                unit = _UNITS.get(request.time_unit, "")
                interval = request.time_interval or 1.0
            bins = time_bins(since, until, unit, interval)
            counts = await self._queries.count_by_time(
                self._workspace, event_filter.with_bounds(since, until), bins
            )
            items = []
            for index, count in enumerate(counts):
                start, end = bins.bounds(index)
                value = (
                    start.date().isoformat() if countable == pb.COUNTABLE_DAY else start.isoformat()
                )
                items.append(
                    pb.EventCount(
                        value=start.isoformat(),
                        label=value,
                        count=count,
                        start_time=to_timestamp(start),
                        end_time=to_timestamp(end),
                    )
                )
            return pb.CountEventsResponse(counts=items)
        if countable == pb.COUNTABLE_EVENT:
            groups = await self._queries.count_by_event(self._workspace, event_filter)
        elif countable == pb.COUNTABLE_RESOURCE:
            groups = await self._queries.count_by_resource(self._workspace, event_filter)
        else:
            raise InvalidArgument.for_field(
                "countable", "choose what to count by: day, time, event or resource"
            )
        return pb.CountEventsResponse(counts=[_count(g) for g in groups])

    async def SubscribeEvents(  # noqa: N802
        self, request: pb.SubscribeEventsRequest, context: Context
    ) -> AsyncIterator[pb.SubscribeEventsResponse]:
        event_filter = filter_from_proto(request.filter)
        async for item in self._tail.follow(self._workspace, event_filter, request.backfill):
            if isinstance(item, FellBehindNotice):
                yield pb.SubscribeEventsResponse(
                    fell_behind=pb.FellBehind(
                        skipped_count=item.skipped, since=to_timestamp(item.since)
                    )
                )
            else:
                yield pb.SubscribeEventsResponse(event=record_to_proto(item))
