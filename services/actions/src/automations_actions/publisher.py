"""Publishes the service's own events (action.triggered/executed/failed) to EVENTS."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from automations_actions.action_events import OutgoingEvent
from automations_actions.convert import event_from_json
from automations_common.broker import JetStreamPublisher, OutgoingMessage
from automations_common.streams import Streams


class EventPublisher:
    """EventSink on JetStream: `Nats-Msg-Id` = event id, `received` stamped here."""

    def __init__(self, jetstream: JetStreamPublisher, streams: Streams) -> None:
        self._jetstream = jetstream
        self._streams = streams

    async def emit(self, events: Sequence[OutgoingEvent]) -> None:
        received = datetime.now(UTC)
        await self._jetstream.publish(
            [
                OutgoingMessage(
                    self._streams.events_subject(item.workspace),
                    event_from_json(item.event, received).SerializeToString(),
                    str(item.event["id"]),
                )
                for item in events
            ],
        )
