"""`python -m automations_ingest` starts, reports SERVING, and stops cleanly on SIGTERM;
its roles split accepting events from storing them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import nats
import nats.js.errors
import pytest

from automations.v1 import events_service_pb2, events_service_pb2_grpc
from automations_common.devstack import (
    ManagedProcess,
    free_port,
    service_process,
    wait_for_health,
)
from automations_common.streams import Streams
from automations_ingest.persister import DURABLE_NAME
from automations_ingest.settings import PersisterSettings
from tests.integration.ingest.conftest import make_event


def test_the_service_process_serves_and_stops_cleanly(
    nats_url: str, namespace: str, tmp_path: Path
) -> None:
    port = free_port()
    process = service_process(
        "ingest",
        {
            "INGEST_NATS__URL": nats_url,
            "INGEST_NATS__NAMESPACE": namespace,
            "INGEST_GRPC__PORT": str(port),
            "INGEST_HTTP_PORT": str(free_port()),
            "INGEST_DATA_DIR": str(tmp_path),
        },
        tmp_path / "ingest.log",
    )
    process.start()
    try:
        wait_for_health(f"127.0.0.1:{port}", timeout=30, process=process)
        assert (tmp_path / "ingest.db").exists()
    finally:
        process.stop(timeout=15)
    assert process.process is not None
    assert process.process.returncode == 0, process.log_tail()


def _ingest_process(
    role: str, nats_url: str, namespace: str, tmp_path: Path
) -> tuple[ManagedProcess, str]:
    port = free_port()
    process = service_process(
        "ingest",
        {
            "INGEST_ROLE": role,
            "INGEST_NATS__URL": nats_url,
            "INGEST_NATS__NAMESPACE": namespace,
            "INGEST_GRPC__PORT": str(port),
            "INGEST_HTTP_PORT": str(free_port()),
            "INGEST_DATA_DIR": str(tmp_path),
        },
        tmp_path / f"ingest-{role}.log",
        name=f"ingest-{role}",
    )
    process.start()
    address = f"127.0.0.1:{port}"
    wait_for_health(address, timeout=30, process=process)
    return process, address


async def test_an_api_process_and_a_persister_process_share_the_work(
    nats_url: str, namespace: str, tmp_path: Path
) -> None:
    """`make run`'s shape: the API accepts, a niced persister process stores."""
    api, api_address = _ingest_process("api", nats_url, namespace, tmp_path)
    persister: ManagedProcess | None = None
    try:
        async with grpc.aio.insecure_channel(api_address) as channel:
            events = events_service_pb2_grpc.EventsServiceStub(channel)
            sent = [make_event(resource_id=f"demo.thing.{i}") for i in range(20)]
            await events.EmitEvents(events_service_pb2.EmitEventsRequest(events=sent))
            async with _nats(nats_url) as js:
                # The API process leaves storing to another process: no persister consumer.
                with pytest.raises(nats.js.errors.NotFoundError):
                    await js.consumer_info(Streams(namespace).events_stream, DURABLE_NAME)

            persister, persister_address = _ingest_process(
                "persister", nats_url, namespace, tmp_path
            )
            assert persister.process is not None
            assert os.getpriority(os.PRIO_PROCESS, persister.process.pid) == (
                os.getpriority(os.PRIO_PROCESS, 0) + PersisterSettings().niceness
            )
            async with grpc.aio.insecure_channel(persister_address) as persister_channel:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await events_service_pb2_grpc.EventsServiceStub(persister_channel).EmitEvents(
                        events_service_pb2.EmitEventsRequest(events=sent)
                    )
                assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED

            deadline = time.monotonic() + 20
            stored = 0
            while stored < len(sent) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                page = await events.QueryEvents(events_service_pb2.QueryEventsRequest())
                stored = page.total_size
            assert stored == len(sent)
    finally:
        for process in (persister, api):
            if process is not None:
                process.stop(timeout=15)


@contextlib.asynccontextmanager
async def _nats(url: str) -> AsyncIterator[nats.js.JetStreamContext]:
    client = await nats.connect(url)
    try:
        yield client.jetstream()
    finally:
        await client.close()
