"""The actions consumer's BatchPuller: what is there at once, else the first that comes."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from automations_common.broker import ensure_streams
from automations_common.puller import BatchPuller
from automations_common.streams import Streams

pytestmark = pytest.mark.timeout(30)


async def test_fetch_returns_without_waiting_for_a_full_batch(
    nats_url: str, namespace: str
) -> None:
    streams = Streams(namespace)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, streams.stream_configs())
        await js.add_consumer(
            streams.actions_stream,
            ConsumerConfig(durable_name="puller-test", ack_policy=AckPolicy.EXPLICIT),
        )
        subject = streams.actions_subject("default")
        for i in range(3):
            await js.publish(subject, f"m{i}".encode())
        puller = BatchPuller(nc, streams.actions_stream, "puller-test")
        await puller.start()
        try:
            started = time.monotonic()
            first = await puller.fetch(64, 2.0)
            assert [m.data for m in first] == [b"m0", b"m1", b"m2"]
            assert time.monotonic() - started < 1.0
            for message in first:
                await message.ack()

            # Nothing there: a lingering pull returns as soon as one message arrives.
            async def publish_later() -> None:
                await asyncio.sleep(0.2)
                await js.publish(subject, b"late")

            task = asyncio.create_task(publish_later())
            started = time.monotonic()
            late = await puller.fetch(64, 5.0)
            await task
            assert [m.data for m in late] == [b"late"]
            assert time.monotonic() - started < 2.0

            # And nothing at all: an empty batch once the wait is over.
            await late[0].ack()
            assert await puller.fetch(64, 0.3) == []
        finally:
            await puller.close()
    finally:
        await nc.close()
