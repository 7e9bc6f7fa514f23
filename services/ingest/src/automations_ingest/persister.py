"""The `ingest-persister` durable consumer: EVENTS -> event store, a batch per transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.errors
from google.protobuf.message import DecodeError
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from automations.v1 import event_pb2
from automations_common.broker import acknowledge
from automations_common.puller import BatchPuller
from automations_common.streams import Streams
from automations_ingest.convert import record_from_proto
from automations_ingest.events import EventRecord
from automations_ingest.settings import PersisterSettings
from automations_ingest.store import EventStore

log = logging.getLogger(__name__)

DURABLE_NAME = "ingest-persister"


def workspace_of(subject: str) -> str:
    """Event subjects end in the workspace (`<ns>.events.<workspace>`)."""
    return subject.rsplit(".", 1)[-1]


class Persister:
    """Fetches batches, writes them in one transaction, then acks them.

    A redelivered batch is harmless: the store ignores ids it already holds.
    """

    def __init__(
        self,
        nc: NatsClient,
        streams: Streams,
        store: EventStore,
        settings: PersisterSettings,
    ) -> None:
        self._nc = nc
        self._streams = streams
        self._store = store
        self._settings = settings

    async def run(self, stopping: asyncio.Event) -> None:
        """Persist until `stopping` is set; the batch in hand is finished first (a write
        cancelled half-way would leave its database connection in an unknown state).
        Losing JetStream (at start or later) is waited out, never fatal."""
        while not stopping.is_set():
            try:
                await self._consume(stopping)
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                log.warning("the persister lost JetStream (%r); retrying in 1 s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1.0)

    async def _consume(self, stopping: asyncio.Event) -> None:
        # nats-py's subscription creates (or binds to) the durable consumer; batches then
        # come through BatchPuller, which costs a fraction of nats-py's fetch per message.
        subscription = await self._nc.jetstream().pull_subscribe(
            # Every workspace's events: the workspace is the subject's last token.
            self._streams.events_subject_all(),
            durable=DURABLE_NAME,
            stream=self._streams.events_stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self._settings.ack_wait_seconds,
                max_ack_pending=self._settings.batch_size * 4,
            ),
        )
        with contextlib.suppress(nats.errors.Error, OSError, TimeoutError):
            await subscription.unsubscribe()
        puller = BatchPuller(self._nc, self._streams.events_stream, DURABLE_NAME)
        await puller.start()
        try:
            while not stopping.is_set():
                # A fetch waits at most fetch_timeout_seconds: that bounds how long a stop
                # waits for it. Writing a batch, once started, is always finished.
                messages = await puller.fetch(
                    self._settings.batch_size, self._settings.fetch_timeout_seconds
                )
                if messages:
                    await self._handle(messages)
                if 0 < len(messages) < self._settings.batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), self._settings.linger_seconds)
        finally:
            # Hand back what was fetched but not stored, rather than after ack_wait.
            for message in puller.take_buffered():
                with contextlib.suppress(nats.errors.Error, OSError):
                    await message.nak()
            await puller.close()

    async def _handle(self, messages: list[Msg]) -> None:
        records: list[EventRecord] = []
        good: list[Msg] = []
        for message in messages:
            try:
                event = event_pb2.Event.FromString(message.data)
                records.append(record_from_proto(event, workspace_of(message.subject)))
            except (DecodeError, ValueError) as exc:
                log.error("dropping an undecodable message on %s: %r", message.subject, exc)
                await message.term()
                continue
            good.append(message)
        try:
            await self._store.write(records)
        except (OperationalError, InterfaceError) as exc:
            log.warning("storing %d events failed (%r); they will be redelivered", len(good), exc)
            for message in good:
                await message.nak(delay=2.0)
            return
        except SQLAlchemyError as exc:
            # Something in the batch the database refuses: find it, keep the rest.
            log.warning("a batch of %d events was refused (%r); storing one by one", len(good), exc)
            await self._write_one_by_one(records, good)
            return
        await acknowledge(good)

    async def _write_one_by_one(self, records: list[EventRecord], messages: list[Msg]) -> None:
        for record, message in zip(records, messages, strict=True):
            try:
                await self._store.write([record])
            except (OperationalError, InterfaceError):
                await message.nak(delay=2.0)
            except SQLAlchemyError as exc:
                log.error(
                    "the store refuses event %s (%r); it stays only in the stream", record.id, exc
                )
                await message.term()
            else:
                await message.ack()
