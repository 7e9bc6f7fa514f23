"""Protobuf <-> domain conversion of events and firings (what travels on the streams)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from google.protobuf import struct_pb2

from automations.v1 import event_pb2 as epb
from automations.v1 import stream_pb2 as spb
from automations_common.structs import dict_to_struct, struct_to_dict
from automations_common.timestamps import to_datetime, to_timestamp
from automations_triggers import model
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


class LazyPayload(Mapping[str, Any]):
    """An event's payload, converted from its Struct only when something reads it: most
    events match no trigger, and MessageToDict is the dearest part of decoding one."""

    __slots__ = ("_data", "_struct")

    def __init__(self, struct: struct_pb2.Struct) -> None:
        self._struct: struct_pb2.Struct | None = struct
        self._data: dict[str, Any] | None = None

    def _dict(self) -> dict[str, Any]:
        if self._data is None:
            assert self._struct is not None
            self._data = struct_to_dict(self._struct)
            self._struct = None
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def __repr__(self) -> str:
        return repr(self._dict())


class ProtoLabels(Mapping[str, str]):
    """A resource's labels read in place from the decoded message: copying them into a
    dict costs more than evaluating an event that matches nothing (most of them)."""

    __slots__ = ("_labels",)

    def __init__(self, labels: MutableMapping[str, str]) -> None:
        self._labels = labels

    def __getitem__(self, key: str) -> str:
        # `get`, never `[]`: indexing a protobuf map inserts the missing key.
        value = self._labels.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._labels

    def __iter__(self) -> Iterator[str]:
        return iter(self._labels)

    def __len__(self) -> int:
        return len(self._labels)

    def __repr__(self) -> str:
        return repr(dict(self))


def event_to_model(event: epb.Event) -> model.Event:
    """The engine's view of a decoded event; it reads the message in place (labels) or on
    first use (payload), so the message must not be changed afterwards."""
    return model.Event(
        id=event.id,
        occurred=to_datetime(event.occurred_time),
        event=event.event,
        resource=ProtoLabels(event.resource.labels),
        related=tuple(ProtoLabels(r.labels) for r in event.related),
        payload=LazyPayload(event.payload) if event.HasField("payload") else {},
        follows=event.follows or None,
        received=to_datetime(event.received_time) if event.HasField("received_time") else None,
    )


def event_from_model(event: model.Event, payload: struct_pb2.Struct | None = None) -> epb.Event:
    """The message for a domain event; `payload` is its payload already as a Struct, when
    the caller has one (converting a dict to a Struct is the dear part)."""
    message = epb.Event(
        id=event.id,
        occurred_time=to_timestamp(event.occurred),
        event=event.event,
        resource=epb.Resource(labels=dict(event.resource)),
        related=[epb.Resource(labels=dict(r)) for r in event.related],
        payload=payload if payload is not None else dict_to_struct(dict(event.payload)),
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
