"""Publishes the service's own events (action.triggered/executed/failed) to EVENTS."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from nats.js import JetStreamContext

from automations_actions.action_events import OutgoingEvent
from automations_actions.convert import event_from_json
from automations_common.broker import OutgoingMessage, publish_all
from automations_common.streams import Streams


class EventPublisher:
    """EventSink on JetStream: `Nats-Msg-Id` = event id, `received` stamped here."""

    def __init__(self, js: JetStreamContext, streams: Streams) -> None:
        self._js = js
        self._streams = streams

    async def emit(self, events: Sequence[OutgoingEvent]) -> None:
        received = datetime.now(UTC)
        await publish_all(
            self._js,
            [
                OutgoingMessage(
                    self._streams.events_subject(item.workspace),
                    event_from_json(item.event, received).SerializeToString(),
                    str(item.event["id"]),
                )
                for item in events
            ],
        )
