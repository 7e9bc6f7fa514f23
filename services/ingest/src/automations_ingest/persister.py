"""The `ingest-persister` durable consumer: EVENTS -> event store, a batch per transaction."""

from __future__ import annotations

import asyncio
import logging

import nats.errors
from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.exc import SQLAlchemyError

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

    async def run(self) -> None:
        subscription = await self._js.pull_subscribe(
            # Every workspace's events: the workspace is the subject's last token.
            self._streams.events_subject(">"),
            durable=DURABLE_NAME,
            stream=self._streams.events_stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=60.0,
                max_ack_pending=self._settings.batch_size * 4,
            ),
        )
        try:
            while True:
                try:
                    messages = await subscription.fetch(
                        self._settings.batch_size, timeout=self._settings.fetch_timeout_seconds
                    )
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                except (nats.errors.Error, OSError) as exc:
                    log.warning("fetching events failed (%r); retrying", exc)
                    await asyncio.sleep(1.0)
                    continue
                await self._handle(messages)
        finally:
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
        except SQLAlchemyError as exc:
            log.warning("storing %d events failed (%r); they will be redelivered", len(good), exc)
            for message in good:
                await message.nak(delay=2.0)
            return
        for message in good:
            await message.ack()
