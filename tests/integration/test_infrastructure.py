"""The shared infrastructure works against the real servers: JetStream, SQLite, PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, StreamConfig
from sqlalchemy import text

from automations_common.broker import (
    JetStreamPublisher,
    OutgoingMessage,
    acknowledge,
    ensure_streams,
    subscribe_inline,
)
from automations_common.database import create_engine
from automations_common.errors import Unavailable
from automations_common.puller import BatchPuller
from automations_common.streams import Streams
from tests.support.waiting import eventually


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[NATS]:
    """A NATS connection to the session's server, closed after the test."""
    connection = await nats.connect(nats_url)
    yield connection
    await connection.close()


async def test_streams_are_created_and_publishing_dedupes_by_message_id(
    client: NATS, namespace: str
) -> None:
    streams = Streams(namespace)
    js = client.jetstream()
    await ensure_streams(js, streams.stream_configs())
    await ensure_streams(js, streams.stream_configs())  # idempotent
    subject = streams.events_subject()
    publisher = JetStreamPublisher(client)
    receipt = await publisher.publish(
        [
            OutgoingMessage(subject, b"one", "id-1"),
            OutgoingMessage(subject, b"one again", "id-1"),
            OutgoingMessage(subject, b"two", "id-2"),
        ],
    )
    assert receipt.duplicates == 1
    info = await js.stream_info(streams.events_stream)
    assert info.state.messages == 2
    assert receipt.last_sequence == info.state.last_seq
    # Batches in flight together are told apart by their reply subjects.
    receipts = await asyncio.gather(
        *(
            publisher.publish([OutgoingMessage(subject, b"x", f"b{b}-{i}") for i in range(50)])
            for b in range(4)
        )
    )
    assert [r.duplicates for r in receipts] == [0, 0, 0, 0]
    assert (await js.stream_info(streams.events_stream)).state.messages == 202


async def test_publishing_where_no_stream_listens_is_unavailable(
    client: NATS, namespace: str
) -> None:
    with pytest.raises(Unavailable, match="no stream stores this subject"):
        await JetStreamPublisher(client).publish(
            [OutgoingMessage(f"{namespace}.nowhere", b"lost", "id-1")], timeout_seconds=5
        )


async def test_a_message_the_stream_refuses_fails_the_batch(client: NATS, namespace: str) -> None:
    subject = f"{namespace}.small"
    await client.jetstream().add_stream(
        StreamConfig(name=f"{namespace}_small", subjects=[subject], max_msg_size=16)
    )
    with pytest.raises(Unavailable, match="JetStream refused a message"):
        await JetStreamPublisher(client).publish(
            [
                OutgoingMessage(subject, b"fine", "ok-1"),
                OutgoingMessage(subject, b"x" * 100, "big-1"),
            ],
            timeout_seconds=5,
        )


async def test_database_answers(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("select 1"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_acknowledgements_that_never_come_are_unavailable_in_time(
    client: NATS, namespace: str
) -> None:
    subject = f"{namespace}.silent"
    # A stream that stores without acknowledging: the publisher must give up in time.
    await client.jetstream().add_stream(
        StreamConfig(name=f"{namespace}_silent", subjects=[subject], no_ack=True)
    )
    publisher = JetStreamPublisher(client)
    with pytest.raises(Unavailable, match=r"acknowledged 0 of 2 messages within 0\.5 s"):
        await publisher.publish(
            [OutgoingMessage(subject, b"a", "s-1"), OutgoingMessage(subject, b"b", "s-2")],
            timeout_seconds=0.5,
        )
    # The publisher is still usable for streams that do acknowledge.
    streams = Streams(namespace)
    await ensure_streams(client.jetstream(), streams.stream_configs())
    receipt = await publisher.publish([OutgoingMessage(streams.events_subject(), b"c", "s-3")])
    assert receipt.duplicates == 0


async def test_inline_subscriptions_deliver_in_order_and_survive_a_failing_handler(
    client: NATS, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    subject = f"{namespace}.inline"
    seen: list[bytes] = []

    def handle(msg: Msg) -> None:
        if msg.data == b"boom":
            raise ValueError("a bad message")
        seen.append(msg.data)

    subscription = await subscribe_inline(client, subject, handle)
    for data in (b"1", b"2", b"boom", b"3"):
        await client.publish(subject, data)
    await client.flush()
    await eventually(lambda: len(seen) == 3, what="three messages handled")
    assert seen == [b"1", b"2", b"3"]
    assert "handling a message on" in caplog.text  # logged, not raised into the client
    assert client.is_connected

    await subscription.unsubscribe()
    await client.publish(subject, b"4")
    await client.flush()
    await asyncio.sleep(0.1)
    assert seen == [b"1", b"2", b"3"]


async def test_a_payload_over_the_limit_or_an_id_with_a_line_break_fails_before_sending(
    client: NATS, namespace: str
) -> None:
    streams = Streams(namespace)
    await ensure_streams(client.jetstream(), streams.stream_configs())
    publisher = JetStreamPublisher(client)
    subject = streams.events_subject()
    too_big = OutgoingMessage(subject, b"x" * (client.max_payload + 1), "big-1")
    with pytest.raises(Unavailable, match="publishing to JetStream failed"):
        await publisher.publish([OutgoingMessage(subject, b"a", "small-1"), too_big])
    # An id that would break the frame (and inject protocol lines) is refused too.
    with pytest.raises(ValueError, match="cannot publish"):
        await publisher.publish([OutgoingMessage(subject, b"c", "bad\r\nPUB x 1\r\n")])
    # Nothing of those batches went out, and the connection is still there to use.
    receipt = await publisher.publish([OutgoingMessage(subject, b"b", "small-2")])
    assert (receipt.last_sequence, receipt.duplicates) == (1, 0)
    assert client.is_connected


async def test_acknowledging_a_batch_at_once_acks_every_message(
    client: NATS, namespace: str
) -> None:
    streams = Streams(namespace)
    js = client.jetstream()
    await ensure_streams(js, streams.stream_configs())
    subject = streams.events_subject()
    await JetStreamPublisher(client).publish(
        [OutgoingMessage(subject, b"x", f"id-{i}") for i in range(50)]
    )
    await js.add_consumer(
        streams.events_stream,
        ConsumerConfig(durable_name="acks", ack_policy=AckPolicy.EXPLICIT, ack_wait=30),
    )
    puller = BatchPuller(client, streams.events_stream, "acks")
    await puller.start()
    messages = await puller.fetch(50, 1.0)
    assert len(messages) == 50
    await acknowledge(messages[:30])
    await acknowledge([])

    async def acked() -> bool:
        info: ConsumerInfo = await js.consumer_info(streams.events_stream, "acks")
        floor = info.ack_floor
        return info.num_ack_pending == 20 and floor is not None and floor.stream_seq == 30

    await eventually(acked, what="the first 30 acknowledged, the other 20 pending")
    with pytest.raises(nats.errors.MsgAlreadyAckdError):
        await acknowledge(messages[29:])
    await puller.close()
