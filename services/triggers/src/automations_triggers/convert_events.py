"""Protobuf <-> domain conversion of events and firings (what travels on the streams)."""

from __future__ import annotations

from automations.v1 import event_pb2 as epb
from automations.v1 import stream_pb2 as spb
from automations_triggers import model
from automations_triggers.convert import (
    dict_to_struct,
    struct_to_dict,
    to_datetime,
    to_timestamp,
)
from automations_triggers.documents import JsonDict


def event_to_dict(event: epb.Event) -> JsonDict:
    """Prefect's event JSON: id, occurred, event, resource, related, payload, follows, received."""
    return {
        "id": event.id,
        "occurred": to_datetime(event.occurred_time).isoformat(),
        "event": event.event,
        "resource": dict(event.resource.labels),
        "related": [dict(r.labels) for r in event.related],
        "payload": struct_to_dict(event.payload),
        "follows": event.follows or None,
        "received": (
            to_datetime(event.received_time).isoformat()
            if event.HasField("received_time")
            else None
        ),
    }


def event_to_model(event: epb.Event) -> model.Event:
    return model.Event(
        id=event.id,
        occurred=to_datetime(event.occurred_time),
        event=event.event,
        resource=dict(event.resource.labels),
        related=tuple(dict(r.labels) for r in event.related),
        payload=struct_to_dict(event.payload),
        follows=event.follows or None,
        received=to_datetime(event.received_time) if event.HasField("received_time") else None,
    )


def event_from_model(event: model.Event) -> epb.Event:
    message = epb.Event(
        id=event.id,
        occurred_time=to_timestamp(event.occurred),
        event=event.event,
        resource=epb.Resource(labels=dict(event.resource)),
        related=[epb.Resource(labels=dict(r)) for r in event.related],
        payload=dict_to_struct(dict(event.payload)),
        follows=event.follows or "",
    )
    if event.received is not None:
        message.received_time.CopyFrom(to_timestamp(event.received))
    return message


_STATES = {
    model.TriggerState.TRIGGERED: spb.TRIGGER_STATE_TRIGGERED,
    model.TriggerState.RESOLVED: spb.TRIGGER_STATE_RESOLVED,
}


def firing_to_proto(firing: model.Firing, triggering_event: epb.Event | None) -> spb.Firing:
    message = spb.Firing(
        id=firing.id,
        trigger_id=firing.trigger_id,
        trigger_states=sorted(_STATES[s] for s in firing.states),
        triggered_time=to_timestamp(firing.triggered),
        triggering_labels=dict(firing.triggering_labels),
        triggering_firings=[firing_to_proto(f, None) for f in firing.triggering_firings],
    )
    event = triggering_event
    if event is None and firing.triggering_event is not None:
        event = event_from_model(firing.triggering_event)
    if event is not None:
        message.triggering_event.CopyFrom(event)
    # A metric firing carries the metric value (metrics.MetricFiring).
    value = getattr(firing, "triggering_value", None)
    if value is not None:
        message.triggering_value = value
    return message
