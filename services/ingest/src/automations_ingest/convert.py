"""Protobuf <-> domain conversion; the one hand-written module that knows event pb2 shapes."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from automations.v1 import event_filter_pb2, event_pb2
from automations_common.errors import InvalidArgument
from automations_common.structs import struct_to_dict
from automations_common.timestamps import to_datetime, to_timestamp
from automations_ingest.events import EventRecord
from automations_ingest.filters import (
    MAX_TEXT_QUERY_CHARS,
    AnyResourceCriteria,
    EventFilter,
    RelatedCriteria,
    ResourceCriteria,
    TextQuery,
    parse_text,
)
from automations_ingest.validation import Candidate


def candidate(message: event_pb2.Event) -> Candidate:
    """A view of an incoming event for validation; the label maps are not copied."""
    return Candidate(
        id=message.id,
        has_occurred=message.HasField("occurred_time"),
        event=message.event,
        resource=message.resource.labels,
        related=[r.labels for r in message.related],
        follows=message.follows,
        size_bytes=message.ByteSize(),
    )


def record_from_proto(message: event_pb2.Event, workspace: str) -> EventRecord:
    return EventRecord(
        id=message.id,
        occurred=to_datetime(message.occurred_time),
        event=message.event,
        resource=dict(message.resource.labels),
        related=[dict(r.labels) for r in message.related],
        payload=struct_to_dict(message.payload) if message.HasField("payload") else {},
        follows=message.follows or None,
        received=to_datetime(message.received_time) if message.HasField("received_time") else None,
        workspace=workspace,
    )


def record_to_proto(record: EventRecord) -> event_pb2.Event:
    message = event_pb2.Event(
        id=record.id,
        occurred_time=to_timestamp(record.occurred),
        event=record.event,
        resource=event_pb2.Resource(labels=record.resource),
        related=[event_pb2.Resource(labels=r) for r in record.related],
        follows=record.follows or "",
    )
    if record.payload:
        message.payload.update(record.payload)
    if record.received is not None:
        message.received_time.CopyFrom(to_timestamp(record.received))
    return message


def _labels(spec: event_pb2.ResourceSpecification) -> dict[str, tuple[str, ...]]:
    return {key: tuple(values.values) for key, values in spec.labels.items()}


def filter_from_proto(message: event_filter_pb2.EventFilter) -> EventFilter:
    """The domain filter, or InvalidArgument naming the field that cannot be used."""
    since = until = None
    if message.HasField("occurred"):
        if message.occurred.HasField("since"):
            since = to_datetime(message.occurred.since)
        if message.occurred.HasField("until"):
            until = to_datetime(message.occurred.until)
        if since is not None and until is not None and until < since:
            raise InvalidArgument.for_field("filter.occurred.until", "is before since")
    text: TextQuery | None = None
    if message.HasField("text") and message.text.query:
        if len(message.text.query) > MAX_TEXT_QUERY_CHARS:
            raise InvalidArgument.for_field(
                "filter.text.query", f"is longer than {MAX_TEXT_QUERY_CHARS} characters"
            )
        text = parse_text(message.text.query)
    resource = None
    if message.HasField("resource"):
        r = message.resource
        resource = ResourceCriteria(tuple(r.id), tuple(r.id_prefix), _labels(r.labels), r.distinct)
    related = tuple(
        RelatedCriteria(
            tuple(r.id),
            tuple(r.role),
            tuple((x.id, x.role) for x in r.resources_in_roles),
            _labels(r.labels),
        )
        for r in message.related
    )
    any_resource = tuple(
        AnyResourceCriteria(tuple(a.id), tuple(a.id_prefix), _labels(a.labels))
        for a in message.any_resource
    )
    name = message.event
    return EventFilter(
        since=since,
        until=until,
        names=tuple(name.name),
        name_prefixes=tuple(name.prefix),
        exclude_names=tuple(name.exclude_name),
        exclude_prefixes=tuple(name.exclude_prefix),
        resource=resource,
        related=related,
        any_resource=any_resource,
        ids=tuple(message.id.id),
        text=text,
        ascending=message.order == event_filter_pb2.EVENT_ORDER_ASC,
    )


def filter_fingerprint(message: event_filter_pb2.EventFilter) -> dict[str, Any]:
    """A canonical form of the filter for page tokens."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
