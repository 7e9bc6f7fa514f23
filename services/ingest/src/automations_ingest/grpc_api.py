"""EventsService over gRPC: converts requests and delegates to the publisher, reader and tail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from automations.v1 import events_service_pb2 as pb
from automations.v1 import events_service_pb2_grpc as pb_grpc
from automations_common.errors import ServiceError
from automations_common.timestamps import to_timestamp
from automations_ingest.convert import filter_fingerprint, filter_from_proto, record_to_proto
from automations_ingest.event_queries import GroupCount
from automations_ingest.publisher import EmitOutcome, EventPublisher
from automations_ingest.reading import EventReader
from automations_ingest.tail import EventTail, FellBehindNotice

Context = grpc.aio.ServicerContext[Any, Any]

_COUNTABLES = {
    pb.COUNTABLE_DAY: "day",
    pb.COUNTABLE_TIME: "time",
    pb.COUNTABLE_EVENT: "event",
    pb.COUNTABLE_RESOURCE: "resource",
}
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
        reader: EventReader,
        tail: EventTail,
        workspace: str,
    ) -> None:
        self._publisher = publisher
        self._reader = reader
        self._tail = tail
        self._workspace = workspace

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
        page = await self._reader.page(
            filter_from_proto(request.filter),
            filter_fingerprint(request.filter),
            request.page_size,
            request.page_token,
        )
        return pb.QueryEventsResponse(
            events=[record_to_proto(r) for r in page.records],
            total_size=page.total,
            next_page_token=page.next_page_token,
        )

    async def CountEvents(  # noqa: N802
        self, request: pb.CountEventsRequest, context: Context
    ) -> pb.CountEventsResponse:
        groups = await self._reader.count(
            filter_from_proto(request.filter),
            _COUNTABLES.get(request.countable, ""),
            _UNITS.get(request.time_unit, ""),
            request.time_interval or 1.0,
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
