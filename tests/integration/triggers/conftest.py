"""An in-process triggers service on real NATS and a real database, and a gRPC stub to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import nats
import pytest
from nats.js import JetStreamContext

from automations.v1 import automation_service_pb2_grpc as pb_grpc
from automations_common.settings import GrpcSettings, NatsSettings
from automations_triggers.app import TriggersApp, build
from automations_triggers.settings import TriggersSettings


def triggers_settings(
    nats_url: str, namespace: str, database_url: str, data_dir: Path
) -> TriggersSettings:
    return TriggersSettings(
        nats=NatsSettings(url=nats_url, namespace=namespace),
        grpc=GrpcSettings(port=0, shutdown_grace_seconds=0.5),
        database_url=database_url,
        data_dir=data_dir,
        reconcile_seconds=0.5,
        fetch_wait_seconds=0.2,
    )


@pytest.fixture
async def triggers_app(
    nats_url: str, namespace: str, database_url: str, tmp_path: Path
) -> AsyncIterator[TriggersApp]:
    app = build(triggers_settings(nats_url, namespace, database_url, tmp_path))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def stub(triggers_app: TriggersApp) -> AsyncIterator[pb_grpc.AutomationServiceAsyncStub]:
    async with grpc.aio.insecure_channel(triggers_app.grpc_address) as channel:
        yield pb_grpc.AutomationServiceStub(channel)


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    """A JetStream client of its own, for reading and writing the test's streams."""
    client = await nats.connect(nats_url)
    try:
        yield client.jetstream()
    finally:
        await client.close()
