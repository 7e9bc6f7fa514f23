"""EventsService calls: emit (batched and streamed), query, count, tail."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Literal

import grpc

from automations import _convert
from automations._errors import AutomationsError, from_rpc_error
from automations._events import EmitResult, Event, EventCount, EventFilter
from automations._transport import Transport
from automations.v1 import events_service_pb2

# The events service takes at most this many events per request.
EMIT_BATCH_SIZE = 500


class EventsApi(Transport):
    """EventsService calls: emit (batched and streamed), query, count, tail."""

    async def emit_events(
        self, events: Iterable[Event | Mapping[str, Any]], batch_size: int = EMIT_BATCH_SIZE
    ) -> EmitResult:
        """Sends events in batches; the result lists the accepted ids and the refused events
        (with their index in `events`). UnavailableError when a batch could not be sent."""
        models = [e if isinstance(e, Event) else Event.model_validate(e) for e in events]
        accepted: list[str] = []
        rejected = []
        for start in range(0, len(models), batch_size):
            batch = models[start : start + batch_size]
            response = await self._call(
                self._stubs().events.EmitEvents,
                events_service_pb2.EmitEventsRequest(
                    events=[_convert.event_to_proto(e) for e in batch]
                ),
            )
            result = _convert.emit_result_from_proto(response, offset=start)
            accepted.extend(result.accepted_ids)
            rejected.extend(result.rejected)
        return EmitResult(accepted_ids=accepted, rejected=rejected)

    async def emit_event_stream(
        self, batches: AsyncIterable[Sequence[Event]]
    ) -> AsyncIterator[EmitResult]:
        """Sends many batches on one stream; yields one result per batch, in order.
        A batch the server could not take raises UnavailableError."""
        ids = 0

        async def requests() -> AsyncIterator[events_service_pb2.EmitEventStreamRequest]:
            nonlocal ids
            async for batch in batches:
                ids += 1
                yield events_service_pb2.EmitEventStreamRequest(
                    batch_id=str(ids), events=[_convert.event_to_proto(e) for e in batch]
                )

        call = self._stubs().events.EmitEventStream(requests(), metadata=self._metadata)
        try:
            async for ack in call:
                if ack.error:
                    raise AutomationsError(
                        f"batch {ack.batch_id} failed: {ack.error}",
                        code=grpc.StatusCode.UNAVAILABLE,
                    )
                yield _convert.emit_result_from_proto(
                    events_service_pb2.EmitEventsResponse(
                        accepted_count=ack.accepted_count,
                        accepted_ids=ack.accepted_ids,
                        rejected=ack.rejected,
                    )
                )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc

    async def query_events(
        self, filter: EventFilter | None = None, limit: int | None = 50
    ) -> list[Event]:
        """Stored events, newest first unless `filter.ascending`; every page up to `limit`."""
        message = _convert.event_filter_to_proto(filter or EventFilter())
        found: list[Event] = []
        token = ""
        while True:
            response = await self._call(
                self._stubs().events.QueryEvents,
                events_service_pb2.QueryEventsRequest(
                    filter=message, page_size=50, page_token=token
                ),
            )
            found.extend(_convert.event_from_proto(e) for e in response.events)
            token = response.next_page_token
            if not token or (limit is not None and len(found) >= limit):
                return found[:limit] if limit is not None else found

    async def count_events(
        self,
        filter: EventFilter | None = None,
        countable: Literal["day", "time", "event", "resource"] = "event",
        time_unit: Literal["week", "day", "hour", "minute", "second"] = "day",
        time_interval: float = 1.0,
    ) -> list[EventCount]:
        response = await self._call(
            self._stubs().events.CountEvents,
            events_service_pb2.CountEventsRequest(
                filter=_convert.event_filter_to_proto(filter or EventFilter()),
                countable=events_service_pb2.Countable.Value(f"COUNTABLE_{countable.upper()}"),
                time_unit=events_service_pb2.TimeUnit.Value(f"TIME_UNIT_{time_unit.upper()}"),
                time_interval=time_interval,
            ),
        )
        return [_convert.event_count_from_proto(c) for c in response.counts]

    async def subscribe_events(
        self, filter: EventFilter | None = None, backfill: bool = True
    ) -> AsyncIterator[Event]:
        """Matching events as they arrive (stored ones first with `backfill`). Falling
        behind raises UnavailableError: subscribe again."""
        call = self._stubs().events.SubscribeEvents(
            events_service_pb2.SubscribeEventsRequest(
                filter=_convert.event_filter_to_proto(filter or EventFilter()), backfill=backfill
            ),
            metadata=self._metadata,
        )
        try:
            async for item in call:
                if item.HasField("event"):
                    yield _convert.event_from_proto(item.event)
                else:
                    raise AutomationsError(
                        f"the subscription fell behind; {item.fell_behind.skipped_count} "
                        "events were skipped",
                        code=grpc.StatusCode.UNAVAILABLE,
                    )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc
        finally:
            call.cancel()
