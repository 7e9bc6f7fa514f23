"""Lifecycle events: which use cases announce what, and the event they become (no servers)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from automations.v1 import event_pb2 as epb
from automations_common.broker import OutgoingMessage
from automations_common.errors import NotFound, Unavailable
from automations_common.ids import derived_id
from automations_common.structs import struct_to_dict
from automations_common.timestamps import to_datetime
from automations_triggers.automations import Automations, LifecycleEvent
from automations_triggers.documents import AutomationDocument, ListFilter
from automations_triggers.lifecycle_events import LifecycleOutbox, lifecycle_event

NOW = datetime(2026, 1, 1, tzinfo=UTC)
AUTOMATION_ID = "a4a4a4a4-0000-4000-8000-000000000001"


def document(**changes: Any) -> AutomationDocument:
    fields: dict[str, Any] = {
        "id": AUTOMATION_ID,
        "name": "demo",
        "trigger": {
            "type": "event",
            "id": "b4b4b4b4-0000-4000-8000-000000000002",
            "match": {"prefect.resource.id": ["demo.*"]},
            "match_related": [],
            "after": [],
            "expect": ["demo.ping"],
            "for_each": [],
            "posture": "Reactive",
            "threshold": 1,
            "within": 0.0,
        },
        "actions": [{"type": "do-nothing"}],
        "tags": ["a"],
        "owner_resource": "prefect.deployment.1",
        "workspace": "elsewhere",
        "created": NOW,
        "updated": NOW,
        **changes,
    }
    return AutomationDocument(**fields)


def test_the_event_carries_the_automation_as_prefect_json() -> None:
    doc = document()
    later = NOW + timedelta(seconds=5)
    event = lifecycle_event(LifecycleEvent("updated", doc, later))

    assert event.event == "prefect.automation.updated"
    assert dict(event.resource.labels) == {
        "prefect.resource.id": f"prefect.automation.{AUTOMATION_ID}",
        "prefect.resource.name": "demo",
    }
    assert list(event.related) == []
    assert to_datetime(event.occurred_time) == to_datetime(event.received_time) == later
    payload = struct_to_dict(event.payload)
    assert payload == {
        "id": AUTOMATION_ID,
        "created": NOW.isoformat(),
        "updated": NOW.isoformat(),
        "name": "demo",
        "description": "",
        "enabled": True,
        "tags": ["a"],
        "trigger": doc.trigger,
        "actions": [{"type": "do-nothing"}],
        "actions_on_trigger": [],
        "actions_on_resolve": [],
    }  # as Prefect's API answers: neither the owner nor the workspace


def test_event_ids_are_derived_from_the_automation_the_kind_and_the_time() -> None:
    doc = document()
    first = LifecycleEvent("updated", doc, NOW)
    assert first.id == LifecycleEvent("updated", document(name="other"), NOW).id
    assert first.id == derived_id(AUTOMATION_ID, "updated", NOW.isoformat())
    assert first.id != LifecycleEvent("deleted", doc, NOW).id
    assert first.id != LifecycleEvent("updated", doc, NOW + timedelta(microseconds=1)).id


async def test_the_outbox_row_holds_the_message_and_a_failed_publish_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def refuse(messages: Sequence[OutgoingMessage]) -> None:
        raise Unavailable("no stream stores this subject")

    outbox = LifecycleOutbox("ns.events.default", "default#shard", refuse)
    change = LifecycleEvent("created", document(), NOW)
    row = outbox.row(change)
    assert (row["workspace"], row["msg_id"], row["subject"]) == (
        "default#shard",
        change.id,
        "ns.events.default",
    )
    assert epb.Event.FromString(row["data"]) == lifecycle_event(change)

    with caplog.at_level(logging.WARNING):
        await outbox.publish(change)  # does not raise: the change is committed
    assert change.id in caplog.text
    assert "stays in the outbox" in caplog.text


class MemoryRepository:
    """Automations in a dict, recording the lifecycle events committed with each write."""

    def __init__(self) -> None:
        self.docs: dict[str, AutomationDocument] = {}
        self.committed: list[LifecycleEvent] = []

    async def insert(self, doc: AutomationDocument, event: LifecycleEvent) -> None:
        self.docs[doc.id] = doc
        self.committed.append(event)

    async def replace(self, doc: AutomationDocument, event: LifecycleEvent) -> bool:
        if doc.id not in self.docs:
            return False
        self.docs[doc.id] = doc
        self.committed.append(event)
        return True

    async def get(self, automation_id: str) -> AutomationDocument | None:
        return self.docs.get(automation_id)

    async def delete(self, automation_id: str, event: LifecycleEvent) -> bool:
        if self.docs.pop(automation_id, None) is None:
            return False
        self.committed.append(event)
        return True

    async def list_page(
        self, where: ListFilter, page_size: int, after: dict[str, Any] | None
    ) -> tuple[list[AutomationDocument], dict[str, Any] | None]:
        return list(self.docs.values()), None

    async def count(self, enabled: bool | None = None) -> int:
        return len(self.docs)

    async def related_to(self, resource_id: str) -> list[AutomationDocument]:
        return [d for d in self.docs.values() if d.owner_resource == resource_id]

    async def delete_owned(self, resource_id: str, created_before: datetime) -> list[str]:
        owned = [d.id for d in self.docs.values() if d.owner_resource == resource_id]
        for automation_id in owned:
            del self.docs[automation_id]
        return owned


class Recorder:
    """Both announcements: reload hints and published lifecycle events."""

    def __init__(self) -> None:
        self.hints: list[tuple[str, str]] = []
        self.published: list[LifecycleEvent] = []

    async def changed(self, automation_id: str, kind: str) -> None:
        self.hints.append((automation_id, kind))

    async def publish(self, event: LifecycleEvent) -> None:
        self.published.append(event)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


async def test_each_change_commits_and_publishes_one_event_but_delete_owned_none() -> None:
    repository, recorder = MemoryRepository(), Recorder()
    automations = Automations(repository, recorder, recorder, clock=Clock())
    new = document(id="", created=None, updated=None, workspace="default")

    await automations.create(new, validate_only=True)
    assert recorder.published == []

    created = await automations.create(new)
    renamed = await automations.update(document(id=created.id, name="renamed"), ["name"])
    paused = await automations.set_enabled(created.id, False)
    resumed = await automations.set_enabled(created.id, True)
    await automations.delete(created.id)
    with pytest.raises(NotFound):
        await automations.delete(created.id)

    assert recorder.published == repository.committed  # what was committed is published
    assert [(e.kind, e.automation) for e in recorder.published] == [
        ("created", created),
        ("updated", renamed),
        ("updated", paused),
        ("updated", resumed),
        ("deleted", resumed),
    ]
    assert [e.occurred for e in recorder.published[:4]] == [
        created.created,
        renamed.updated,
        paused.updated,
        resumed.updated,
    ]
    assert resumed.updated is not None
    assert recorder.published[4].occurred > resumed.updated
    assert [kind for _, kind in recorder.hints] == [e.kind for e in recorder.published]

    owned = await automations.create(new)
    recorder.published.clear()
    assert await automations.delete_owned("prefect.deployment.1") == 1
    assert recorder.published == []
    assert recorder.hints[-1] == (owned.id, "deleted")
