"""Prefect `/events/out` frames to our events, and the bridge's resume arithmetic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf import json_format

from automations_ingest.convert import record_to_proto
from automations_ingest.prefect_bridge_convert import (
    RecentIds,
    UnusableEventError,
    event_from_prefect,
    filter_message,
    parse_frame,
    resume_since,
    socket_url,
)

EVENT_ID = "0190b5a0-0000-7000-8000-000000000001"
STATE_ID = "0190b5a0-0000-7000-8000-000000000002"
RUN = "prefect.flow-run.11111111-2222-3333-4444-555555555555"


def prefect_event(**changes: Any) -> dict[str, Any]:
    """A flow-run state-change event as Prefect 3 sends it."""
    event: dict[str, Any] = {
        "occurred": "2026-01-02T03:04:05.123456Z",
        "event": "prefect.flow-run.Completed",
        "resource": {
            "prefect.resource.id": RUN,
            "prefect.resource.name": "sassy-otter",
            "prefect.state-type": "COMPLETED",
        },
        "related": [
            {
                "prefect.resource.id": "prefect.flow.aaaaaaaa-0000-0000-0000-000000000000",
                "prefect.resource.role": "flow",
                "prefect.resource.name": "etl",
            },
            {
                "prefect.resource.id": "prefect.deployment.bbbbbbbb-0000-0000-0000-000000000000",
                "prefect.resource.role": "deployment",
            },
        ],
        "payload": {
            "intended": {"from": "RUNNING", "to": "COMPLETED"},
            "validated_state": {"type": "COMPLETED", "name": "Completed", "message": None},
            "counts": [1, 2.5, True],
        },
        "id": EVENT_ID.upper(),
        "follows": STATE_ID,
        "received": "2026-01-02T03:04:06Z",
    }
    event.update(changes)
    return event


def test_a_state_change_event_converts_field_by_field() -> None:
    conversion = event_from_prefect(prefect_event(), workspace="ws")
    record = conversion.record
    assert conversion.notes == []
    assert record.id == EVENT_ID  # canonical lower-case form
    assert record.occurred == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert record.event == "prefect.flow-run.Completed"
    assert record.resource["prefect.resource.id"] == RUN
    assert [r["prefect.resource.role"] for r in record.related] == ["flow", "deployment"]
    assert record.follows == STATE_ID
    assert record.received is None  # ingest stamps its own
    assert record.workspace == "ws"


def test_nested_payload_survives_into_the_proto_struct() -> None:
    message = record_to_proto(event_from_prefect(prefect_event()).record)
    payload = json_format.MessageToDict(message.payload)
    assert payload["intended"]["to"] == "COMPLETED"
    assert payload["validated_state"]["message"] is None
    assert payload["counts"] == [1.0, 2.5, True]
    assert message.id == EVENT_ID
    assert not message.HasField("received_time")
    assert [r.labels["prefect.resource.role"] for r in message.related] == ["flow", "deployment"]


def test_a_related_resource_without_role_is_dropped_and_the_event_kept() -> None:
    related = [
        {"prefect.resource.id": "prefect.tag.a"},
        {"prefect.resource.role": "flow"},
        "not an object",
        {"prefect.resource.id": "prefect.tag.b", "prefect.resource.role": "tag"},
    ]
    conversion = event_from_prefect(prefect_event(related=related))
    assert conversion.record.related == [
        {"prefect.resource.id": "prefect.tag.b", "prefect.resource.role": "tag"}
    ]
    assert len(conversion.notes) == 3
    assert "related[0]" in conversion.notes[0]


def test_odd_label_values_become_text_and_nulls_are_dropped() -> None:
    resource = {"prefect.resource.id": RUN, "n": 3, "ok": False, "none": None, "l": [1]}
    record = event_from_prefect(prefect_event(resource=resource)).record
    assert record.resource == {"prefect.resource.id": RUN, "n": "3", "ok": "false", "l": "[1]"}


def test_missing_payload_related_and_follows_are_empty() -> None:
    event = prefect_event()
    for key in ("payload", "related", "follows"):
        del event[key]
    record = event_from_prefect(event).record
    assert (record.payload, record.related, record.follows) == ({}, [], None)


def test_a_follows_that_is_not_a_uuid_is_dropped_with_a_note() -> None:
    conversion = event_from_prefect(prefect_event(follows="yesterday"))
    assert conversion.record.follows is None
    assert "follows" in conversion.notes[0]


def test_a_naive_occurred_is_taken_as_utc() -> None:
    record = event_from_prefect(prefect_event(occurred="2026-01-02T03:04:05")).record
    assert record.occurred == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"id": "nope"}, "not a UUID"),
        ({"id": None}, "not a UUID"),
        ({"event": ""}, "event name"),
        ({"occurred": None}, "occurred is missing"),
        ({"occurred": "last tuesday"}, "ISO 8601"),
        ({"resource": {"prefect.resource.name": "x"}}, "prefect.resource.id"),
        ({"resource": ["x"]}, "resource is not an object"),
        ({"payload": [1, 2]}, "payload"),
    ],
)
def test_unusable_events_are_refused_with_the_reason(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(UnusableEventError, match=says):
        event_from_prefect(prefect_event(**changes))


def test_frames_parse_to_their_event_and_other_types_are_ignored() -> None:
    event = prefect_event()
    assert parse_frame(json.dumps({"type": "event", "event": event})) == event
    assert parse_frame(json.dumps({"type": "auth_success"})) is None
    for bad in ("{not json", "[1]", json.dumps({"type": "event", "event": "x"})):
        with pytest.raises(UnusableEventError):
            parse_frame(bad)


@pytest.mark.parametrize(
    ("api_url", "expected"),
    [
        ("http://127.0.0.1:4200/api", "ws://127.0.0.1:4200/api/events/out"),
        ("https://prefect.example/api/", "wss://prefect.example/api/events/out"),
        (
            "https://api.prefect.cloud/api/accounts/a/workspaces/w",
            "wss://api.prefect.cloud/api/accounts/a/workspaces/w/events/out",
        ),
    ],
)
def test_socket_url_is_derived_from_the_api_url(api_url: str, expected: str) -> None:
    assert socket_url(api_url) == expected


def test_socket_url_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="http"):
        socket_url("ftp://x/api")


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MARGIN = timedelta(minutes=1)
BACKFILL = timedelta(minutes=15)


def test_the_first_connection_starts_at_the_backfill_limit() -> None:
    assert resume_since(None, NOW, MARGIN, BACKFILL) == NOW - BACKFILL


def test_a_reconnection_resumes_a_margin_before_the_last_event() -> None:
    last = NOW - timedelta(seconds=30)
    assert resume_since(last, NOW, MARGIN, BACKFILL) == last - MARGIN


def test_a_long_outage_resumes_no_further_back_than_the_server_allows() -> None:
    last = NOW - timedelta(hours=2)
    assert resume_since(last, NOW, MARGIN, BACKFILL) == NOW - BACKFILL


def test_the_filter_message_asks_for_backfill_ascending_up_to_a_future_until() -> None:
    message = filter_message(NOW - BACKFILL, NOW + timedelta(days=365), ["prefect.log."])
    assert message == {
        "type": "filter",
        "filter": {
            "occurred": {
                "since": "2026-01-01T11:45:00+00:00",
                "until": "2027-01-01T12:00:00+00:00",
            },
            "order": "ASC",
            "event": {"exclude_prefix": ["prefect.log."]},
        },
        "backfill": True,
    }
    assert "event" not in filter_message(NOW, NOW)["filter"]


def test_recent_ids_forget_the_oldest_beyond_capacity() -> None:
    recent = RecentIds(2)
    for event_id in ("a", "b", "a", "c"):
        recent.add(event_id)
    # "a" was refreshed by its second add, so "b" is the oldest and goes.
    assert ("a" in recent, "b" in recent, "c" in recent) == (True, False, True)
    assert len(recent) == 2
    with pytest.raises(ValueError, match="capacity"):
        RecentIds(0)
