"""An in-process ingest service on loopback (gRPC port 0, HTTP port 0) and a real channel."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest

from automations.v1 import event_pb2, events_service_pb2_grpc, webhook_service_pb2_grpc
from automations_common.settings import GrpcSettings, NatsSettings
from automations_ingest.app import IngestApp, build
from automations_ingest.settings import IngestSettings


def ingest_settings(
    nats_url: str, namespace: str, database_url: str, tmp_path: Path, **extra: Any
) -> IngestSettings:
    values: dict[str, Any] = {
        "nats": NatsSettings(url=nats_url, namespace=namespace),
        "grpc": GrpcSettings(port=0, shutdown_grace_seconds=0.5),
        "http_port": 0,
        "database_url": database_url,
        "data_dir": tmp_path,
    }
    values.update(extra)
    return IngestSettings(**values)


@pytest.fixture
async def start_ingest(
    nats_url: str, namespace: str, database_url: str, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[IngestApp]]]:
    """Starts ingest apps with settings overrides; stops them all afterwards."""
    started: list[IngestApp] = []

    async def start(**extra: Any) -> IngestApp:
        app = build(ingest_settings(nats_url, namespace, database_url, tmp_path, **extra))
        await app.start()
        started.append(app)
        return app

    try:
        yield start
    finally:
        for app in reversed(started):
            await app.stop()


@pytest.fixture
async def ingest(start_ingest: Callable[..., Awaitable[IngestApp]]) -> IngestApp:
    return await start_ingest()


@pytest.fixture
async def channel(ingest: IngestApp) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(ingest.grpc_address) as ch:
        yield ch


@pytest.fixture
def events_stub(channel: grpc.aio.Channel) -> events_service_pb2_grpc.EventsServiceAsyncStub:
    return events_service_pb2_grpc.EventsServiceStub(channel)


@pytest.fixture
def webhooks_stub(
    channel: grpc.aio.Channel,
) -> webhook_service_pb2_grpc.WebhookServiceAsyncStub:
    return webhook_service_pb2_grpc.WebhookServiceStub(channel)


def make_event(
    event: str = "demo.ping",
    resource_id: str = "demo.thing.1",
    *,
    labels: dict[str, str] | None = None,
    related: list[dict[str, str]] | None = None,
    payload: dict[str, Any] | None = None,
    occurred: datetime | None = None,
    event_id: str | None = None,
) -> event_pb2.Event:
    message = event_pb2.Event(
        id=event_id or str(uuid.uuid4()),
        event=event,
        resource=event_pb2.Resource(labels={"prefect.resource.id": resource_id, **(labels or {})}),
        related=[event_pb2.Resource(labels=r) for r in related or []],
    )
    message.occurred_time.FromDatetime(occurred or datetime.now(UTC))
    if payload:
        message.payload.update(payload)
    return message
