"""Emitting, querying, counting and tailing events over a real gRPC connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from automations import (
    AutomationsClient,
    Event,
    EventEmitter,
    EventFilter,
    EventRejectedError,
    InvalidArgumentError,
    RelatedResource,
    Resource,
    aemit_event,
    emit_event,
)

from .fakes import FakeStack

RESOURCE = {"prefect.resource.id": "demo.1"}


async def test_emit_event_returns_the_stored_event(
    client: AutomationsClient, stack: FakeStack
) -> None:
    event = await aemit_event(
        event="demo.ping",
        resource=RESOURCE,
        related=[{"prefect.resource.id": "t", "prefect.resource.role": "tag"}],
        payload={"n": 1},
        client=client,
    )
    stored = stack.events.stored[str(event.id)]
    assert stored.event == "demo.ping"
    assert stored.payload["n"] == 1
    assert stored.related[0].labels["prefect.resource.role"] == "tag"
    assert stored.follows == ""


async def test_resources_may_be_given_as_models(
    client: AutomationsClient, stack: FakeStack
) -> None:
    event = await aemit_event(
        event="demo.ping",
        resource=Resource(RESOURCE),
        related=[RelatedResource({"prefect.resource.id": "t", "prefect.resource.role": "tag"})],
        client=client,
    )
    stored = stack.events.stored[str(event.id)]
    assert dict(stored.resource.labels) == RESOURCE
    assert stored.related[0].labels["prefect.resource.role"] == "tag"


async def test_follows_is_sent_only_when_close_in_time(
    client: AutomationsClient, stack: FakeStack
) -> None:
    leader = await aemit_event(event="a", resource=RESOURCE, client=client)
    near = await aemit_event(event="b", resource=RESOURCE, follows=leader, client=client)
    far = await aemit_event(
        event="c",
        resource=RESOURCE,
        occurred=leader.occurred + timedelta(minutes=6),
        follows=leader,
        client=client,
    )
    assert stack.events.stored[str(near.id)].follows == str(leader.id)
    assert stack.events.stored[str(far.id)].follows == ""


async def test_a_refused_event_raises_with_the_reason(client: AutomationsClient) -> None:
    with pytest.raises(EventRejectedError) as caught:
        await aemit_event(event="demo.ping", resource={"x": "y"}, client=client)
    assert "prefect.resource.id is required" in str(caught.value)
    assert caught.value.rejected[0].index == 0
    assert caught.value.field_violations[0].field == 'resource.labels["prefect.resource.id"]'


async def test_emit_events_batches_500_and_reports_rejections_by_position(
    client: AutomationsClient, stack: FakeStack
) -> None:
    events: list[Event | dict[str, object]] = [
        Event(event="bulk", resource=RESOURCE) for _ in range(1200)
    ]
    events[700] = {"event": "bulk", "resource": {}}
    result = await client.emit_events(events)
    assert stack.events.request_sizes == [500, 500, 200]
    assert result.accepted_count == 1199
    assert [r.index for r in result.rejected] == [700]


async def test_an_empty_request_is_the_servers_to_refuse(client: AutomationsClient) -> None:
    result = await client.emit_events([])
    assert result.accepted_count == 0
    with pytest.raises(InvalidArgumentError):
        await client._call(client._stubs().events.EmitEvents, _empty_request())


def _empty_request() -> Any:
    from automations.v1 import events_service_pb2

    return events_service_pb2.EmitEventsRequest()


async def test_query_count_and_subscribe(client: AutomationsClient) -> None:
    for name in ["x.a", "x.a", "x.b"]:
        await aemit_event(event=name, resource=RESOURCE, client=client)
    found = await client.query_events(EventFilter(event_names=["x.a"]), limit=None)
    assert [e.event for e in found] == ["x.a", "x.a"]
    assert all(e.received == datetime.fromtimestamp(1_700_000_000, UTC) for e in found)
    counts = await client.count_events()
    assert [(c.value, c.count) for c in counts] == [("x.a", 2), ("x.b", 1)]
    tailed = [e.event async for e in client.subscribe_events(EventFilter(event_names=["x.b"]))]
    assert tailed == ["x.b"]


async def test_the_streaming_emit(client: AutomationsClient, stack: FakeStack) -> None:
    async def batches() -> AsyncIterator[list[Event]]:
        for n in range(3):
            yield [Event(event=f"s.{n}", resource=RESOURCE) for _ in range(10)]

    results = [r async for r in client.emit_event_stream(batches())]
    assert [r.accepted_count for r in results] == [10, 10, 10]
    assert len(stack.events.stored) == 30


async def test_the_buffered_emitter(client: AutomationsClient, stack: FakeStack) -> None:
    async with EventEmitter(client, max_batch=100, flush_interval=0.05) as emitter:
        for n in range(250):
            await emitter.emit(Event(event=f"e.{n}", resource=RESOURCE))
    assert stack.events.request_sizes == [100, 100, 50]
    assert emitter.accepted_count == 250


def test_sync_emit_uses_the_environment(
    threaded_stack: FakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOMATIONS_EVENTS_URL", threaded_stack.address)
    event = emit_event(event="env.ping", resource=RESOURCE)
    assert str(event.id) in threaded_stack.events.stored
