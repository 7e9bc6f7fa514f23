"""SubscribeEvents: backfill, then live, with no event missing or repeated."""

from __future__ import annotations

import asyncio
import contextlib

import grpc

from automations.v1 import event_filter_pb2 as f
from automations.v1 import events_service_pb2 as pb
from automations.v1 import events_service_pb2_grpc
from automations_ingest.settings import SubscribeSettings
from tests.integration.ingest.conftest import make_event
from tests.support.waiting import eventually

DEMO = f.EventFilter(event=f.EventNameFilter(prefix=["demo."]))


class Tail:
    """Reads a SubscribeEvents call in the background (cancelling a read would end the call)."""

    def __init__(self, call) -> None:
        self.call = call
        self.items: asyncio.Queue[pb.SubscribeEventsResponse] = asyncio.Queue()
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        async for item in self.call:
            await self.items.put(item)

    async def read(self, count: int, timeout: float = 10.0) -> list[pb.SubscribeEventsResponse]:
        return [await asyncio.wait_for(self.items.get(), timeout) for _ in range(count)]

    async def nothing_more(self, wait: float = 0.5) -> None:
        await asyncio.sleep(wait)
        assert self.items.empty(), f"unexpected extra message: {self.items.get_nowait()}"

    async def close(self) -> None:
        self.call.cancel()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await self._task


async def _stored(stub: events_service_pb2_grpc.EventsServiceAsyncStub, count: int) -> None:
    async def check() -> bool:
        return (await stub.QueryEvents(pb.QueryEventsRequest())).total_size == count

    await eventually(check, what=f"{count} events stored")


async def test_backfill_then_live_without_duplicates_across_a_reconnect(events_stub) -> None:
    first = [make_event(f"demo.step{i}") for i in range(3)]
    await events_stub.EmitEvents(pb.EmitEventsRequest(events=[*first, make_event("other.noise")]))
    await _stored(events_stub, 4)

    call = Tail(events_stub.SubscribeEvents(pb.SubscribeEventsRequest(filter=DEMO, backfill=True)))
    backfilled = await call.read(3)
    assert [i.event.id for i in backfilled] == [e.id for e in first]

    live = [make_event(f"demo.live{i}") for i in range(2)]
    await events_stub.EmitEvents(pb.EmitEventsRequest(events=[live[0], make_event("other.x")]))
    await events_stub.EmitEvents(pb.EmitEventsRequest(events=[live[1], first[0]]))
    received = await call.read(2)
    assert [i.event.id for i in received] == [e.id for e in live]
    await call.nothing_more()
    await call.close()

    # Reconnect with backfill: everything once, in order, then live again.
    await _stored(events_stub, 7)
    again = Tail(events_stub.SubscribeEvents(pb.SubscribeEventsRequest(filter=DEMO, backfill=True)))
    replayed = await again.read(5)
    assert [i.event.id for i in replayed] == [e.id for e in [*first, *live]]
    await again.nothing_more()
    late = make_event("demo.late")
    await events_stub.EmitEvents(pb.EmitEventsRequest(events=[late]))
    assert [i.event.id for i in await again.read(1)] == [late.id]
    await again.close()


async def test_without_backfill_only_live_events_arrive(events_stub) -> None:
    await events_stub.EmitEvents(pb.EmitEventsRequest(events=[make_event("demo.before")]))
    await _stored(events_stub, 1)
    call = Tail(events_stub.SubscribeEvents(pb.SubscribeEventsRequest(filter=DEMO, backfill=False)))
    # The live side replays a short overlap from the stream; the filter still applies.
    items = await call.read(1)
    assert items[0].event.event == "demo.before"
    after = make_event("demo.after")
    await events_stub.EmitEvents(pb.EmitEventsRequest(events=[after]))
    assert [i.event.id for i in await call.read(1)] == [after.id]
    await call.close()


async def test_a_slow_subscriber_is_told_it_fell_behind(start_ingest) -> None:
    app = await start_ingest(
        subscribe=SubscribeSettings(queue_size=1, live_overlap_seconds=0), http_enabled=False
    )
    async with grpc.aio.insecure_channel(app.grpc_address) as channel:
        stub = events_service_pb2_grpc.EventsServiceStub(channel)
        call = stub.SubscribeEvents(pb.SubscribeEventsRequest(filter=DEMO, backfill=False))
        marker = make_event("demo.marker")
        await stub.EmitEvents(pb.EmitEventsRequest(events=[marker]))
        first = await asyncio.wait_for(call.read(), 10)
        assert isinstance(first, pb.SubscribeEventsResponse)  # not the end of the stream
        assert first.event.id == marker.id  # the live side is running
        burst = [make_event(f"demo.burst{i}") for i in range(200)]
        await stub.EmitEvents(pb.EmitEventsRequest(events=burst))
        seen = skipped = 0
        notices = 0
        while seen + skipped < len(burst):
            item = await asyncio.wait_for(call.read(), 10)
            assert isinstance(item, pb.SubscribeEventsResponse)
            if item.HasField("fell_behind"):
                notices += 1
                skipped += item.fell_behind.skipped_count
                assert item.fell_behind.HasField("since")
            else:
                seen += 1
        assert notices >= 1
        assert skipped > 0
        assert seen + skipped == len(burst)
        call.cancel()
