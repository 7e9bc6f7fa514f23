"""Durable pull consumer `actions` on ACTIONS: fetch in batches, dispatch, ack or nak."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from automations.v1 import stream_pb2
from automations_actions.convert import AutomationJsons, invocation_from_proto
from automations_actions.dispatch import Delivery, Dispatcher, Verdict
from automations_actions.settings import ConsumerSettings
from automations_common.broker import acknowledge
from automations_common.puller import BatchPuller
from automations_common.streams import Streams

log = logging.getLogger(__name__)

DURABLE_NAME = "actions"
# How long a failed batch (database down) waits before it is delivered again.
BATCH_FAILURE_DELAY_SECONDS = 2.0
# How long one pull request lingers when nothing is there.
FETCH_WAIT_SECONDS = 0.5


class ActionsConsumer:
    """Keeps a few batches in flight so one slow webhook does not hold up the rest."""

    def __init__(
        self,
        js: JetStreamContext,
        streams: Streams,
        dispatcher: Dispatcher,
        settings: ConsumerSettings,
    ) -> None:
        self._js = js
        self._streams = streams
        self._dispatcher = dispatcher
        self._settings = settings
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._batches = asyncio.Semaphore(max(1, settings.batches_in_flight))
        self._automations = AutomationJsons()

    async def start(self) -> None:
        subscription = await self._js.pull_subscribe(
            self._streams.actions_subject("*"),
            durable=DURABLE_NAME,
            stream=self._streams.actions_stream,
            config=ConsumerConfig(
                durable_name=DURABLE_NAME,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self._settings.ack_wait_seconds,
                # The ledger bounds the attempts; JetStream must not drop a message first.
                max_deliver=-1,
                max_ack_pending=max(1000, self._settings.batch_size * 8),
            ),
        )
        self._task = asyncio.create_task(self._run(subscription), name="actions-consumer")

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop fetching and let the batches in flight finish (then cancel them)."""
        self._stopping.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, subscription: JetStreamContext.PullSubscription) -> None:
        # nats-py's subscription created the durable; batches come through our own puller.
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
        puller = BatchPuller(self._js._nc, self._streams.actions_stream, DURABLE_NAME)
        await puller.start()
        try:
            async with asyncio.TaskGroup() as group:
                while not self._stopping.is_set():
                    await self._batches.acquire()
                    try:
                        messages = await puller.fetch(self._settings.batch_size, FETCH_WAIT_SECONDS)
                    except Exception as exc:  # a NATS hiccup: wait, then fetch again
                        self._batches.release()
                        log.warning("fetching actions failed: %r", exc)
                        await asyncio.sleep(0.5)
                        continue
                    if not messages:
                        self._batches.release()
                        continue
                    group.create_task(self._handle(messages))
        finally:
            # Hand fetched but unhandled actions back at once rather than after ack_wait.
            for message in puller.take_buffered():
                with contextlib.suppress(Exception):
                    await message.nak()
            await puller.close()

    async def _handle(self, messages: list[Msg]) -> None:
        try:
            deliveries = [_delivery(message, self._automations) for message in messages]
            try:
                verdicts = await self._dispatcher.dispatch(deliveries)
            except Exception:
                log.exception("a batch of %d actions failed; it will be redelivered", len(messages))
                verdicts = [Verdict("nak", BATCH_FAILURE_DELAY_SECONDS)] * len(messages)
            await _settle(messages, verdicts)
        finally:
            self._batches.release()


async def _settle(messages: list[Msg], verdicts: list[Verdict]) -> None:
    """Ack or nak each message. NATS going away here must not end the consume loop: an
    unsettled message is redelivered after ack_wait, and the ledger makes that harmless."""
    pairs = list(zip(messages, verdicts, strict=True))
    try:
        await acknowledge([message for message, verdict in pairs if verdict.kind == "ack"])
        for message, verdict in pairs:
            if verdict.kind == "nak":
                await message.nak(delay=verdict.delay)
    except Exception as exc:
        log.warning("settling %d actions failed (%r); they will be redelivered", len(pairs), exc)


def _delivery(message: Msg, automations: AutomationJsons) -> Delivery:
    workspace = message.subject.rsplit(".", 1)[-1] or "default"
    try:
        triggered = stream_pb2.TriggeredAction.FromString(message.data)
        invocation = invocation_from_proto(triggered, automations)
    except (DecodeError, ValueError) as exc:
        return Delivery(workspace, None, f"{type(exc).__name__}: {exc}")
    return Delivery(triggered.automation.workspace or workspace, invocation)
