"""`prefect.automation.created|updated|deleted` on EVENTS, through a real gRPC channel."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import grpc
import pytest
import sqlalchemy as sa
from nats.js import JetStreamContext

from automations.v1 import automation_pb2 as apb
from automations.v1 import automation_service_pb2 as pb
from automations.v1 import automation_service_pb2_grpc as pb_grpc
from automations.v1 import event_pb2 as epb
from automations_common.broker import ensure_streams
from automations_common.database import create_engine
from automations_common.streams import Streams
from automations_common.structs import struct_to_dict
from automations_common.timestamps import to_datetime
from automations_triggers.app import TriggersApp
from automations_triggers.convert import automation_to_document
from automations_triggers.tables import outbox
from tests.support.waiting import eventually

from .helpers import event_trigger, webhook, woodchonk
from .streams_io import actions_for, drain

if TYPE_CHECKING:
    Stub = pb_grpc.AutomationServiceAsyncStub

LIFECYCLE = {
    "prefect.automation.created",
    "prefect.automation.updated",
    "prefect.automation.deleted",
}
PAYLOAD_KEYS = {
    "id",
    "created",
    "updated",
    "name",
    "description",
    "enabled",
    "tags",
    "trigger",
    "actions",
    "actions_on_trigger",
    "actions_on_resolve",
}


async def lifecycle_events(
    js: JetStreamContext, streams: Streams, automation_id: str
) -> list[epb.Event]:
    """This automation's lifecycle events on EVENTS, in stream order."""
    messages = await drain(js, streams.events_stream, streams.events_subject(), wait=0.3)
    resource_id = f"prefect.automation.{automation_id}"
    return [
        e
        for e in (epb.Event.FromString(m) for m in messages)
        if e.event in LIFECYCLE and e.resource.labels.get("prefect.resource.id") == resource_id
    ]


def prefect_json(automation: apb.Automation) -> dict[str, Any]:
    """The JSON the RPC's answer stands for (what the event's payload must be)."""
    return automation_to_document(automation).to_prefect_json()


def check_event(event: epb.Event, name: str, automation: apb.Automation) -> None:
    assert event.event == name
    assert dict(event.resource.labels) == {
        "prefect.resource.id": f"prefect.automation.{automation.id}",
        "prefect.resource.name": automation.name,
    }
    assert list(event.related) == []
    payload = struct_to_dict(event.payload)
    assert set(payload) == PAYLOAD_KEYS  # no owner, no workspace: Prefect's response shape
    assert payload == prefect_json(automation)
    assert uuid.UUID(event.id)


async def test_create_update_pause_resume_and_delete_each_put_one_event(
    stub: Stub, js: JetStreamContext, namespace: str
) -> None:
    streams = Streams(namespace)
    created = (
        await stub.CreateAutomation(
            pb.CreateAutomationRequest(automation=woodchonk(tags=["garden"]))
        )
    ).automation
    renamed = apb.Automation()
    renamed.CopyFrom(created)
    renamed.name = "woodchonk 2"
    updated = (
        await stub.UpdateAutomation(pb.UpdateAutomationRequest(automation=renamed))
    ).automation
    paused = (await stub.PauseAutomation(pb.PauseAutomationRequest(id=created.id))).automation
    resumed = (await stub.ResumeAutomation(pb.ResumeAutomationRequest(id=created.id))).automation
    await stub.DeleteAutomation(pb.DeleteAutomationRequest(id=created.id))

    events = await lifecycle_events(js, streams, created.id)
    assert [e.event for e in events] == [
        "prefect.automation.created",
        "prefect.automation.updated",
        "prefect.automation.updated",
        "prefect.automation.updated",
        "prefect.automation.deleted",
    ]
    created_event, updated_event, paused_event, resumed_event, deleted_event = events
    check_event(created_event, "prefect.automation.created", created)
    check_event(updated_event, "prefect.automation.updated", updated)
    check_event(paused_event, "prefect.automation.updated", paused)
    check_event(resumed_event, "prefect.automation.updated", resumed)
    # The deleted event carries the automation as it was when it went.
    check_event(deleted_event, "prefect.automation.deleted", resumed)

    payloads = [struct_to_dict(e.payload) for e in events]
    assert payloads[0]["trigger"]["id"] == created.trigger.event.id
    assert payloads[1]["trigger"]["id"] == updated.trigger.event.id != created.trigger.event.id
    assert [p["enabled"] for p in payloads] == [True, True, False, True, True]
    assert [p["name"] for p in payloads] == ["woodchonk"] + ["woodchonk 2"] * 4
    assert payloads[0]["tags"] == ["garden"]

    # `occurred` is the time of the change.
    occurred = [to_datetime(e.occurred_time) for e in events]
    assert occurred[0] == to_datetime(created.create_time) == to_datetime(created.update_time)
    assert occurred[1:4] == [to_datetime(a.update_time) for a in (updated, paused, resumed)]
    assert occurred[3] <= occurred[4] < occurred[3] + timedelta(minutes=1)
    assert len({e.id for e in events}) == 5


async def test_delete_owned_validate_only_and_refused_changes_put_none(
    stub: Stub, js: JetStreamContext, namespace: str
) -> None:
    streams = Streams(namespace)
    owned = woodchonk("owned")
    owned.owner_resource = "prefect.deployment.8d0c5f0e-6c1d-4a51-9f6e-7f1f6a3c2b10"
    created = (await stub.CreateAutomation(pb.CreateAutomationRequest(automation=owned))).automation
    deleted = await stub.DeleteOwnedAutomations(
        pb.DeleteOwnedAutomationsRequest(resource_id=owned.owner_resource)
    )
    assert deleted.deleted_count == 1
    # Its creation was announced; the bulk delete of owned automations is not (§6.6).
    assert [e.event for e in await lifecycle_events(js, streams, created.id)] == [
        "prefect.automation.created"
    ]

    checked = (
        await stub.CreateAutomation(
            pb.CreateAutomationRequest(automation=woodchonk("dry run"), validate_only=True)
        )
    ).automation
    assert await lifecycle_events(js, streams, checked.id) == []

    missing = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stub.PauseAutomation(pb.PauseAutomationRequest(id=missing))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stub.DeleteAutomation(pb.DeleteAutomationRequest(id=created.id))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    assert await lifecycle_events(js, streams, missing) == []
    assert len(await lifecycle_events(js, streams, created.id)) == 1


async def outbox_ids(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return list((await connection.scalars(sa.select(outbox.c.msg_id))).all())
    finally:
        await engine.dispose()


async def test_an_event_that_could_not_be_published_goes_out_later_from_the_outbox(
    stub: Stub, js: JetStreamContext, namespace: str, database_url: str
) -> None:
    """EVENTS is gone while an automation is created: the RPC still reports it, and the
    event, kept in the outbox, is published once the stream is back."""
    streams = Streams(namespace)
    await js.delete_stream(streams.events_stream)
    created = (
        await stub.CreateAutomation(pb.CreateAutomationRequest(automation=woodchonk()))
    ).automation
    assert created.id
    read = (await stub.GetAutomation(pb.GetAutomationRequest(id=created.id))).automation
    assert read == created
    assert len(await outbox_ids(database_url)) == 1  # committed with the automation

    await ensure_streams(js, streams.stream_configs())

    async def published() -> list[epb.Event]:
        return await lifecycle_events(js, streams, created.id)

    # Retried when the evaluator goes quiet (every 5 s at most), not only at the next batch.
    events = await eventually(published, timeout=15, what="the created event")
    assert len(events) == 1
    check_event(events[0], "prefect.automation.created", created)

    # Once stored, its row leaves the outbox (when the evaluator is next idle).
    async def outbox_empty() -> bool:
        return await outbox_ids(database_url) == []

    await eventually(outbox_empty, timeout=10, what="an empty outbox")


async def test_automations_can_trigger_on_lifecycle_events(
    triggers_app: TriggersApp, stub: Stub, js: JetStreamContext, namespace: str
) -> None:
    """They are ordinary events to the engine, as in Prefect."""
    streams = Streams(namespace)
    watcher = (
        await stub.CreateAutomation(
            pb.CreateAutomationRequest(
                automation=apb.Automation(
                    name="watch new automations",
                    enabled=True,
                    trigger=event_trigger(
                        ["prefect.automation.created"], {"prefect.resource.name": "watched"}
                    ),
                    actions=[webhook()],
                )
            )
        )
    ).automation
    await eventually(lambda: triggers_app.is_loaded(watcher.id), timeout=2, what="loaded")
    watched = (
        await stub.CreateAutomation(pb.CreateAutomationRequest(automation=woodchonk("watched")))
    ).automation

    async def fired() -> list[Any]:
        return await actions_for(js, streams, watcher.id)

    actions = await eventually(fired, timeout=10, what="the watcher's action")
    assert len(actions) == 1
    trigger_event = actions[0].triggering_event
    assert trigger_event.event == "prefect.automation.created"
    assert (
        trigger_event.resource.labels["prefect.resource.id"] == f"prefect.automation.{watched.id}"
    )
