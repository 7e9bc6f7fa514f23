"""The `ingest-persister` durable consumer: EVENTS -> event store, a batch per transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.errors
from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from automations.v1 import event_pb2
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
        js: JetStreamContext,
        streams: Streams,
        store: EventStore,
        settings: PersisterSettings,
    ) -> None:
        self._js = js
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
        subscription = await self._js.pull_subscribe(
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
        stop_waiter = asyncio.ensure_future(stopping.wait())
        try:
            while not stopping.is_set():
                fetch = asyncio.ensure_future(
                    subscription.fetch(
                        self._settings.batch_size, timeout=self._settings.fetch_timeout_seconds
                    )
                )
                # Waiting for messages is safe to abandon; writing a batch is not.
                await asyncio.wait({fetch, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await fetch
                    break
                try:
                    messages = fetch.result()
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                except (nats.errors.Error, OSError) as exc:
                    log.warning("fetching events failed (%r); retrying", exc)
                    await asyncio.sleep(1.0)
                    continue
                await self._handle(messages)
        finally:
            stop_waiter.cancel()
            with contextlib.suppress(nats.errors.Error, OSError, TimeoutError):
                await subscription.unsubscribe()

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
        for message in good:
            await message.ack()

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
