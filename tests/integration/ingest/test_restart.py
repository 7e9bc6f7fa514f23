"""SIGKILL ingest while a client streams events; after a restart and retries of the
unacknowledged batches, the store holds every event exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from automations.v1 import events_service_pb2 as pb
from automations.v1 import events_service_pb2_grpc
from automations_common.devstack import free_port, service_process, wait_for_health
from tests.integration.ingest.conftest import make_event
from tests.support.waiting import eventually

BATCHES = 200  # 100,000 events, as the acceptance asks
BATCH_SIZE = 500


async def _emit_until_acknowledged(address: str, batch: pb.EmitEventsRequest) -> None:
    while True:
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                stub = events_service_pb2_grpc.EventsServiceStub(channel)
                reply = await stub.EmitEvents(batch, timeout=5)
                assert reply.accepted_count == len(batch.events)
                return
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            await asyncio.sleep(0.2)


@pytest.mark.timeout(300)
async def test_a_killed_ingest_loses_nothing_and_stores_nothing_twice(
    nats_url: str, namespace: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "INGEST_NATS__URL": nats_url,
        "INGEST_NATS__NAMESPACE": namespace,
        "INGEST_GRPC__PORT": str(port),
        "INGEST_HTTP_ENABLED": "false",
        "INGEST_DATA_DIR": str(tmp_path),
        "INGEST_PERSISTER__ACK_WAIT_SECONDS": "2",
    }
    address = f"127.0.0.1:{port}"
    first = service_process("ingest", env, tmp_path / "first.log")
    first.start()
    second = service_process("ingest", env, tmp_path / "second.log")
    try:
        await asyncio.to_thread(wait_for_health, address, 30, first)
        batches = [
            pb.EmitEventsRequest(events=[make_event(f"demo.n{b}") for _ in range(BATCH_SIZE)])
            for b in range(BATCHES)
        ]
        ids = {e.id for batch in batches for e in batch.events}

        async def client() -> None:
            for batch in batches:
                await _emit_until_acknowledged(address, batch)

        sending = asyncio.create_task(client())
        await asyncio.sleep(1.0)
        first.kill()
        assert not sending.done(), "the client finished before the kill; send more"
        second.start()
        await asyncio.wait_for(sending, 180)

        async with grpc.aio.insecure_channel(address) as channel:
            stub = events_service_pb2_grpc.EventsServiceStub(channel)

            async def all_stored() -> bool:
                page = await stub.QueryEvents(pb.QueryEventsRequest())
                return page.total_size == len(ids)

            # The id is the primary key, so the right total means each event exactly once.
            await eventually(all_stored, timeout=120, what="every event stored exactly once")
            page = await stub.QueryEvents(pb.QueryEventsRequest())
            assert {e.id for e in page.events} <= ids
    finally:
        first.kill()
        second.stop(timeout=15)
