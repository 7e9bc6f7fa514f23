"""EmitEvents and EmitEventStream on a real nats-server: validation, dedupe, durability."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import nats
import pytest
from google.rpc import error_details_pb2

from automations.v1 import event_pb2, events_service_pb2, events_service_pb2_grpc
from automations_common.devstack import NatsServer, free_port
from automations_common.settings import NatsSettings
from automations_ingest.app import IngestApp
from automations_ingest.settings import EventLimits
from tests.integration.ingest.conftest import make_event
from tests.support.grpc_typing import rich_status
from tests.support.waiting import eventually


async def _stream_messages(app: IngestApp) -> list[event_pb2.Event]:
    client = await nats.connect(app.settings.nats.url)
    try:
        js = client.jetstream()
        info = await js.stream_info(app.streams.events_stream)
        messages = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            raw = await js.get_msg(app.streams.events_stream, seq)
            assert raw.data is not None
            messages.append(event_pb2.Event.FromString(raw.data))
        return messages
    finally:
        await client.close()


async def test_good_events_are_accepted_and_bad_ones_rejected_with_index_reason_and_field(
    ingest: IngestApp, events_stub
) -> None:
    good = make_event()
    no_id = make_event()
    del no_id.resource.labels["prefect.resource.id"]
    related_without_role = make_event(related=[{"prefect.resource.id": "demo.other"}])
    too_many_labels = make_event(labels={f"label.{i}": "x" for i in range(500)})
    too_big = make_event(payload={"blob": "x" * 1_600_000})
    malformed_id = make_event(event_id="not-a-uuid")
    too_long_name = make_event(event="x" * 1025)
    no_occurred = make_event()
    no_occurred.ClearField("occurred_time")
    good_too = make_event(event="demo.pong")
    batch = [
        good,
        no_id,
        related_without_role,
        too_many_labels,
        too_big,
        malformed_id,
        too_long_name,
        no_occurred,
        good_too,
    ]
    reply = await events_stub.EmitEvents(events_service_pb2.EmitEventsRequest(events=batch))
    assert list(reply.accepted_ids) == [good.id, good_too.id]
    assert reply.accepted_count == 2
    rejected = {r.index: r for r in reply.rejected}
    assert sorted(rejected) == [1, 2, 3, 4, 5, 6, 7]
    assert rejected[1].field == 'events[1].resource.labels["prefect.resource.id"]'
    assert "prefect.resource.id" in rejected[1].reason
    assert rejected[1].event_id == no_id.id
    assert rejected[2].field == 'events[2].related[0].labels["prefect.resource.role"]'
    assert rejected[3].field == "events[3].resource.labels"
    assert "501 labels" in rejected[3].reason
    assert rejected[4].field == "events[4]"
    assert "1500000" in rejected[4].reason
    assert rejected[5].field == "events[5].id"
    assert "not a valid UUID" in rejected[5].reason
    assert rejected[6].field == "events[6].event"
    assert rejected[7].field == "events[7].occurred_time"

    stored = await _stream_messages(ingest)
    assert [m.id for m in stored] == [good.id, good_too.id]
    assert all(m.HasField("received_time") for m in stored)


async def test_emitting_the_same_event_twice_keeps_one_stream_message_and_one_stored_row(
    ingest: IngestApp, events_stub
) -> None:
    event = make_event()
    for _ in range(2):
        reply = await events_stub.EmitEvents(events_service_pb2.EmitEventsRequest(events=[event]))
        assert list(reply.accepted_ids) == [event.id]
    assert [m.id for m in await _stream_messages(ingest)] == [event.id]
    store = ingest.store
    assert store is not None
    stored = await eventually(lambda: store.get(event.id), what="the event is stored")
    assert stored.event == "demo.ping"


async def test_ids_are_canonicalised_so_case_does_not_defeat_dedupe(
    ingest: IngestApp, events_stub
) -> None:
    event_id = str(uuid.uuid4())
    upper = make_event(event_id=event_id.upper())
    reply = await events_stub.EmitEvents(events_service_pb2.EmitEventsRequest(events=[upper]))
    assert list(reply.accepted_ids) == [event_id]
    reply = await events_stub.EmitEvents(
        events_service_pb2.EmitEventsRequest(events=[make_event(event_id=event_id)])
    )
    assert [m.id for m in await _stream_messages(ingest)] == [event_id]


async def test_an_empty_batch_is_invalid_argument_and_the_service_keeps_serving(
    events_stub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await events_stub.EmitEvents(events_service_pb2.EmitEventsRequest())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rich_status(caught.value)
    assert status is not None
    violations: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend(v.field for v in bad_request.field_violations)
    assert violations == ["events"]
    reply = await events_stub.EmitEvents(
        events_service_pb2.EmitEventsRequest(events=[make_event()])
    )
    assert reply.accepted_count == 1


async def test_a_batch_over_the_event_cap_is_invalid_argument(start_ingest) -> None:
    app = await start_ingest(limits=EventLimits(max_batch_events=3), http_enabled=False)
    async with grpc.aio.insecure_channel(app.grpc_address) as channel:
        stub = events_service_pb2_grpc.EventsServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.EmitEvents(
                events_service_pb2.EmitEventsRequest(events=[make_event() for _ in range(4)])
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "at most 3" in (caught.value.details() or "")
        reply = await stub.EmitEvents(events_service_pb2.EmitEventsRequest(events=[make_event()]))
        assert reply.accepted_count == 1


async def test_emit_event_stream_acknowledges_each_batch_in_order(
    ingest: IngestApp, events_stub
) -> None:
    batches = [
        events_service_pb2.EmitEventStreamRequest(
            batch_id="b1", events=[make_event(), make_event()]
        ),
        events_service_pb2.EmitEventStreamRequest(batch_id="b2"),
        events_service_pb2.EmitEventStreamRequest(
            batch_id="b3", events=[make_event(), make_event(event_id="bad")]
        ),
    ]

    async def requests() -> AsyncIterator[events_service_pb2.EmitEventStreamRequest]:
        for batch in batches:
            yield batch

    acks = [ack async for ack in events_stub.EmitEventStream(requests())]
    assert [a.batch_id for a in acks] == ["b1", "b2", "b3"]
    assert acks[0].accepted_count == 2
    assert not acks[0].error
    assert "empty" in acks[1].error
    assert acks[2].accepted_count == 1
    assert [r.index for r in acks[2].rejected] == [1]
    assert len(await _stream_messages(ingest)) == 3


async def test_nats_down_is_unavailable_and_nothing_is_claimed_accepted(
    start_ingest, tmp_path
) -> None:
    nats_server = NatsServer(free_port(), tmp_path / "own-nats", tmp_path / "own-nats.log")
    nats_server.start()
    try:
        nats_server.wait_ready()
        app = await start_ingest(
            nats=NatsSettings(url=nats_server.url, namespace="down"),
            publish_timeout_seconds=1.0,
            http_enabled=False,
        )
        async with grpc.aio.insecure_channel(app.grpc_address) as channel:
            stub = events_service_pb2_grpc.EventsServiceStub(channel)
            reply = await stub.EmitEvents(
                events_service_pb2.EmitEventsRequest(events=[make_event()])
            )
            assert reply.accepted_count == 1
            nats_server.stop()
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.EmitEvents(events_service_pb2.EmitEventsRequest(events=[make_event()]))
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        nats_server.stop()
