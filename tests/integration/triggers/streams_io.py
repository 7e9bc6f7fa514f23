"""Reading and writing the test namespace's streams directly (no other service involved)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext

from automations.v1 import event_pb2 as epb
from automations.v1 import stream_pb2 as spb
from automations_common.broker import MSG_ID_HEADER
from automations_common.streams import Streams


def ping(name: str, resource_id: str, **labels: str) -> epb.Event:
    event = epb.Event(
        id=str(uuid.uuid4()),
        event=name,
        resource=epb.Resource(labels={"prefect.resource.id": resource_id, **labels}),
    )
    event.occurred_time.FromDatetime(datetime.now(UTC))
    event.received_time.FromDatetime(datetime.now(UTC))
    return event


async def emit(js: JetStreamContext, streams: Streams, *events: epb.Event) -> None:
    for e in events:
        await js.publish(
            streams.events_subject(), e.SerializeToString(), headers={MSG_ID_HEADER: e.id}
        )


async def drain(js: JetStreamContext, stream: str, subject: str, wait: float = 1.0) -> list[bytes]:
    """Every message on the stream now, read through an ephemeral consumer."""
    subscription = await js.pull_subscribe(subject, stream=stream)
    found: list[bytes] = []
    try:
        while True:
            try:
                msgs = await subscription.fetch(100, timeout=wait)
            except (TimeoutError, NatsTimeoutError):
                return found
            found.extend(m.data for m in msgs)
    finally:
        await subscription.unsubscribe()


async def actions_for(
    js: JetStreamContext, streams: Streams, automation_id: str
) -> list[spb.TriggeredAction]:
    messages = await drain(js, streams.actions_stream, streams.actions_subject(), wait=0.3)
    actions = [spb.TriggeredAction.FromString(m) for m in messages]
    return [a for a in actions if a.automation.id == automation_id]


async def state_events(js: JetStreamContext, streams: Streams, name: str) -> list[epb.Event]:
    messages = await drain(js, streams.events_stream, streams.events_subject(), wait=0.3)
    return [e for e in (epb.Event.FromString(m) for m in messages) if e.event == name]
