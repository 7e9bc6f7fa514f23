"""Transport only: pull batches of events from EVENTS, hand them on, publish, then ack."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from google.protobuf.message import DecodeError
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from automations.v1 import event_pb2 as epb
from automations_common.broker import JetStreamPublisher, OutgoingMessage, acknowledge
from automations_common.errors import Unavailable
from automations_common.puller import BatchPuller
from automations_triggers.sharding import CONSUMER_NAME

log = logging.getLogger(__name__)

# `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`
_V1_ACK_TOKENS = 9
# How long a failed batch waits before JetStream offers it again.
RETRY_DELAY_SECONDS = 1.0


def pending_after(msg: Msg) -> int:
    """How many messages the consumer still had to deliver after this one (-1: unknown)."""
    tokens = (msg.reply or "").split(".")
    if len(tokens) == _V1_ACK_TOKENS and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[8])
    try:
        return msg.metadata.num_pending
    except Exception:
        return -1


class BatchHandler(Protocol):
    """Evaluates batches of events; says what to publish, and hears it was."""

    async def handle(
        self, batch: Sequence[epb.Event], caught_up: bool = False
    ) -> list[OutgoingMessage]: ...

    async def published(self, messages: Sequence[OutgoingMessage]) -> None: ...

    async def unpublished(self, messages: Sequence[OutgoingMessage]) -> None: ...


class EventConsumer:
    """The durable pull consumer `triggers` (or a shard's) on EVENTS.

    Per batch: decode, evaluate (through the handler), publish every resulting message
    with pipelined acks, and only then ack the events. A crash in between redelivers the
    batch, and the deterministic message ids make the republish a no-op.
    """

    def __init__(
        self,
        nc: NatsClient,
        stream: str,
        subject: str,
        handler: BatchHandler,
        *,
        batch_size: int,
        fetch_wait_seconds: float,
        ack_wait_seconds: float,
        name: str = CONSUMER_NAME,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._jetstream = JetStreamPublisher(nc)
        self._name = name
        self._stream = stream
        self._subject = subject
        self._handler = handler
        self._batch_size = batch_size
        self._fetch_wait = fetch_wait_seconds
        self._ack_wait = ack_wait_seconds
        self._puller: BatchPuller | None = None
        self._stopping = asyncio.Event()

    async def bind(self) -> None:
        """Create (or reuse) the durable consumer and start pulling from it."""
        try:
            await self._js.consumer_info(self._stream, self._name)
        except NotFoundError:
            await self._js.add_consumer(
                self._stream,
                ConsumerConfig(
                    durable_name=self._name,
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=self._ack_wait,
                    max_ack_pending=max(10 * self._batch_size, 1000),
                    filter_subject=self._subject,
                ),
            )
        self._puller = BatchPuller(self._nc, self._stream, self._name)
        await self._puller.start()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        if self._puller is None:
            raise RuntimeError("bind() the consumer before running it")
        puller = self._puller
        # The next batch is fetched while this one is evaluated, committed, published and
        # acked: the database work runs in its own thread, so fetching overlaps it. Batches
        # are still processed one after the other, in order.
        fetching: asyncio.Task[list[Msg]] | None = None
        try:
            while not self._stopping.is_set():
                if fetching is None:
                    fetching = asyncio.create_task(self._fetch(puller))
                msgs = await fetching
                fetching = None
                if not msgs:
                    continue
                if not self._stopping.is_set():
                    fetching = asyncio.create_task(self._fetch(puller))
                await self._process(msgs)
        finally:
            # Hand prefetched messages back at once rather than after ack_wait.
            unprocessed: list[Msg] = []
            if fetching is not None:
                with contextlib.suppress(Exception):
                    unprocessed.extend(await fetching)
            unprocessed.extend(puller.take_buffered())
            await self._nak(unprocessed, delay=None)
            await puller.close()

    async def _fetch(self, puller: BatchPuller) -> list[Msg]:
        try:
            return await puller.fetch(self._batch_size, self._fetch_wait)
        except Exception as exc:  # connection trouble: nats reconnects; try again
            log.warning("fetching events failed: %s", exc)
            await asyncio.sleep(RETRY_DELAY_SECONDS)
            return []

    async def _process(self, msgs: Sequence[Msg]) -> None:
        batch: list[epb.Event] = []
        good: list[Msg] = []
        for msg in msgs:
            try:
                batch.append(epb.Event.FromString(msg.data))
                good.append(msg)
            except DecodeError:
                log.error("dropping an undecodable message on %s", self._subject)
                await msg.term()
        outgoing: list[OutgoingMessage] = []
        try:
            outgoing = await self._handler.handle(batch, caught_up=pending_after(msgs[-1]) == 0)
            if outgoing:
                try:
                    await self._jetstream.publish(outgoing)
                except BaseException:
                    await self._handler.unpublished(outgoing)
                    raise
                await self._handler.published(outgoing)
        except Unavailable as exc:
            log.warning("publishing firings failed, will retry the batch: %s", exc)
            await self._nak(good)
            return
        except Exception:
            log.exception("evaluating a batch of %d events failed; it will be retried", len(batch))
            await self._nak(good)
            return
        await acknowledge(good)

    async def _nak(self, msgs: Sequence[Msg], delay: float | None = RETRY_DELAY_SECONDS) -> None:
        for msg in msgs:
            try:
                await msg.nak(delay=delay)
            except Exception as exc:
                log.warning("nak failed (the event is redelivered after ack_wait): %s", exc)
