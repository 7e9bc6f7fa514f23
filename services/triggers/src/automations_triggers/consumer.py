"""Transport only: pull batches of events from EVENTS, hand them on, publish, then ack."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from automations.v1 import event_pb2 as epb
from automations_common.broker import OutgoingMessage, publish_all
from automations_common.errors import Unavailable

log = logging.getLogger(__name__)

CONSUMER_NAME = "triggers"
# How long a failed batch waits before JetStream offers it again.
RETRY_DELAY_SECONDS = 1.0


class BatchHandler(Protocol):
    """Evaluates (stream sequence, event) pairs; says what to publish, and hears it was."""

    async def handle(self, batch: Sequence[tuple[int, epb.Event]]) -> list[OutgoingMessage]: ...

    async def published(self, messages: Sequence[OutgoingMessage]) -> None: ...


class EventConsumer:
    """The durable pull consumer `triggers` on EVENTS.

    Per batch: decode, evaluate (through the handler), publish every resulting message
    with pipelined acks, and only then ack the events. A crash in between redelivers the
    batch, and the deterministic message ids make the republish a no-op.
    """

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        subject: str,
        handler: BatchHandler,
        *,
        batch_size: int,
        fetch_wait_seconds: float,
        ack_wait_seconds: float,
    ) -> None:
        self._js = js
        self._stream = stream
        self._subject = subject
        self._handler = handler
        self._batch_size = batch_size
        self._fetch_wait = fetch_wait_seconds
        self._ack_wait = ack_wait_seconds
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._stopping = asyncio.Event()

    async def bind(self) -> None:
        """Create (or reuse) the durable consumer and bind to it."""
        self._subscription = await self._js.pull_subscribe(
            self._subject,
            durable=CONSUMER_NAME,
            stream=self._stream,
            config=ConsumerConfig(
                durable_name=CONSUMER_NAME,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self._ack_wait,
                max_ack_pending=max(10 * self._batch_size, 1000),
                filter_subject=self._subject,
            ),
        )

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        if self._subscription is None:
            raise RuntimeError("bind() the consumer before running it")
        subscription = self._subscription
        while not self._stopping.is_set():
            try:
                msgs = await subscription.fetch(self._batch_size, timeout=self._fetch_wait)
            except (TimeoutError, NatsTimeoutError):
                continue
            except Exception as exc:  # connection trouble: nats reconnects; try again
                log.warning("fetching events failed: %s", exc)
                await asyncio.sleep(RETRY_DELAY_SECONDS)
                continue
            await self._process(msgs)

    async def _process(self, msgs: Sequence[Msg]) -> None:
        batch: list[tuple[int, epb.Event]] = []
        good: list[Msg] = []
        for msg in msgs:
            try:
                batch.append((msg.metadata.sequence.stream, epb.Event.FromString(msg.data)))
                good.append(msg)
            except DecodeError:
                log.error("dropping an undecodable message on %s", self._subject)
                await msg.term()
        try:
            outgoing = await self._handler.handle(batch)
            if outgoing:
                await publish_all(self._js, outgoing)
                await self._handler.published(outgoing)
        except Unavailable as exc:
            log.warning("publishing firings failed, will retry the batch: %s", exc)
            await self._nak(good)
            return
        except Exception:
            log.exception("evaluating a batch of %d events failed; it will be retried", len(batch))
            await self._nak(good)
            return
        for msg in good:
            await msg.ack()

    async def _nak(self, msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            try:
                await msg.nak(delay=RETRY_DELAY_SECONDS)
            except Exception as exc:
                log.warning("nak failed (the event is redelivered after ack_wait): %s", exc)
