"""The shared infrastructure works against the real servers: JetStream, SQLite, PostgreSQL."""

from __future__ import annotations

import nats
from sqlalchemy import text

from automations_common.broker import OutgoingMessage, ensure_streams, publish_all
from automations_common.database import create_engine
from automations_common.streams import Streams


async def test_streams_are_created_and_publishing_dedupes_by_message_id(
    nats_url: str, namespace: str
) -> None:
    streams = Streams(namespace)
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        await ensure_streams(js, streams.stream_configs())
        await ensure_streams(js, streams.stream_configs())  # idempotent
        subject = streams.events_subject()
        acks = await publish_all(
            js,
            [
                OutgoingMessage(subject, b"one", "id-1"),
                OutgoingMessage(subject, b"one again", "id-1"),
                OutgoingMessage(subject, b"two", "id-2"),
            ],
        )
        assert [ack.duplicate for ack in acks] == [None, True, None]
        info = await js.stream_info(streams.events_stream)
        assert info.state.messages == 2
    finally:
        await client.close()


async def test_database_answers(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("select 1"))).scalar() == 1
    finally:
        await engine.dispose()
