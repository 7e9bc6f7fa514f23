"""Turns frames of Prefect's `/api/events/out` websocket into our event records (pure).

Lenient where an odd value can be repaired without changing the event's meaning, strict
where it cannot:
- an event without a UUID `id`, a parseable `occurred`, an `event` name or a resource with
  `prefect.resource.id`, or with a non-object `payload`, is refused (`UnusableEventError`), and
  the bridge logs and skips it;
- a related resource without `prefect.resource.id` or `prefect.resource.role` is dropped
  (the rest of the event is kept) and the drop is reported in `Conversion.notes`;
- a `follows` that is not a UUID is dropped (noted), since ingest would refuse the whole
  event for it;
- label values that are not strings become text (JSON for lists and objects); a null
  label is dropped;
- `received` is ignored: ingest stamps its own receive time.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from automations_common.ids import canonical_uuid
from automations_ingest.events import RESOURCE_ID, RESOURCE_ROLE, EventRecord, utc


class UnusableEventError(ValueError):
    """A frame or event that cannot become one of our events; the message says why."""


@dataclass(frozen=True)
class Conversion:
    """The converted event and what had to be dropped from it on the way."""

    record: EventRecord
    notes: list[str] = field(default_factory=list)


def parse_frame(text: str | bytes) -> dict[str, Any] | None:
    """The event object of an `{"type": "event", "event": {...}}` frame.

    None for frames of another type (the server may add some later); UnusableEventError for
    text that is not a JSON object or an event frame without an event object.
    """
    try:
        frame = json.loads(text)
    except ValueError as exc:
        raise UnusableEventError(f"the frame is not JSON: {exc}") from None
    if not isinstance(frame, dict):
        raise UnusableEventError("the frame is not a JSON object")
    if frame.get("type") != "event":
        return None
    event = frame.get("event")
    if not isinstance(event, dict):
        raise UnusableEventError("the event frame carries no event object")
    return event


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def labels_of(value: Any, where: str) -> dict[str, str]:
    """A resource's labels as text; UnusableEventError when `value` is not an object."""
    if not isinstance(value, dict):
        raise UnusableEventError(f"{where} is not an object of labels")
    return {str(key): _text(item) for key, item in value.items() if item is not None}


def _occurred(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise UnusableEventError("occurred is missing")
    try:
        return utc(datetime.fromisoformat(value))
    except ValueError:
        raise UnusableEventError(f"occurred {value[:64]!r} is not an ISO 8601 time") from None


def event_from_prefect(data: Mapping[str, Any], workspace: str = "default") -> Conversion:
    """Our record of one Prefect event (the `event` object of a frame)."""
    raw_id = data.get("id")
    event_id = canonical_uuid(raw_id) if isinstance(raw_id, str) else None
    if event_id is None:
        raise UnusableEventError(f"id {str(raw_id)[:64]!r} is not a UUID")
    name = data.get("event")
    if not isinstance(name, str) or not name:
        raise UnusableEventError(f"event {event_id}: the event name is missing")
    try:
        occurred = _occurred(data.get("occurred"))
        resource = labels_of(data.get("resource"), "resource")
    except UnusableEventError as exc:
        raise UnusableEventError(f"event {event_id}: {exc}") from None
    if not resource.get(RESOURCE_ID):
        raise UnusableEventError(f"event {event_id}: the resource has no {RESOURCE_ID}")
    payload = data.get("payload")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise UnusableEventError(f"event {event_id}: the payload is not an object")

    notes: list[str] = []
    related: list[dict[str, str]] = []
    related_in = data.get("related") or []
    if not isinstance(related_in, list):
        notes.append("related is not a list; dropped")
        related_in = []
    for index, entry in enumerate(related_in):
        try:
            labels = labels_of(entry, f"related[{index}]")
        except UnusableEventError as exc:
            notes.append(f"{exc}; dropped")
            continue
        if not labels.get(RESOURCE_ID) or not labels.get(RESOURCE_ROLE):
            notes.append(f"related[{index}] lacks {RESOURCE_ID} or {RESOURCE_ROLE}; dropped")
            continue
        related.append(labels)

    follows_in = data.get("follows")
    follows = canonical_uuid(follows_in) if isinstance(follows_in, str) else None
    if follows_in and follows is None:
        notes.append(f"follows {str(follows_in)[:64]!r} is not a UUID; dropped")

    record = EventRecord(
        id=event_id,
        occurred=occurred,
        event=name,
        resource=resource,
        related=related,
        payload=payload,
        follows=follows,
        workspace=workspace,
    )
    return Conversion(record, notes)


def socket_url(api_url: str) -> str:
    """`<api_url>/events/out` as a websocket URL (http -> ws, https -> wss)."""
    url = api_url.rstrip("/")
    if url.startswith("https://"):
        url = "wss://" + url[len("https://") :]
    elif url.startswith("http://"):
        url = "ws://" + url[len("http://") :]
    elif not url.startswith(("ws://", "wss://")):
        raise ValueError(f"the Prefect API URL {api_url!r} must start with http:// or https://")
    return url + "/events/out"


def resume_since(
    last_occurred: datetime | None, now: datetime, margin: timedelta, max_backfill: timedelta
) -> datetime:
    """Where a (re)connection asks the server to start.

    A margin before the last forwarded event catches events that occurred slightly out of
    order. `max_backfill` bounds it: 15 minutes for the socket (the server never goes back
    further), longer for the catch-up query, which can.
    """
    earliest = now - max_backfill
    if last_occurred is None:
        return earliest
    return max(last_occurred - margin, earliest)


def event_filter(
    since: datetime, until: datetime, exclude_prefixes: Sequence[str] = ()
) -> dict[str, Any]:
    """Prefect's EventFilter JSON for an occurred window, oldest first."""
    result: dict[str, Any] = {
        "occurred": {"since": since.isoformat(), "until": until.isoformat()},
        "order": "ASC",
    }
    if exclude_prefixes:
        result["event"] = {"exclude_prefix": list(exclude_prefixes)}
    return result


def filter_message(
    since: datetime, until: datetime, exclude_prefixes: Sequence[str] = ()
) -> dict[str, Any]:
    """The websocket's `filter` message, with backfill.

    `until` must lie in the future, or the server stops sending live events.
    """
    return {
        "type": "filter",
        "filter": event_filter(since, until, exclude_prefixes),
        "backfill": True,
    }


class RecentIds:
    """The ids forwarded most recently, at most `capacity` of them (oldest forgotten first)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
