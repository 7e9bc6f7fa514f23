"""Events on EVENTS fire automations: TriggeredActions on ACTIONS, automation events on EVENTS."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import json_format
from nats.js import JetStreamContext

from automations.v1 import automation_pb2 as apb
from automations.v1 import automation_service_pb2 as pb
from automations.v1 import automation_service_pb2_grpc as pb_grpc
from automations.v1 import event_pb2 as epb
from automations.v1 import stream_pb2 as spb
from automations_common.streams import Streams
from automations_triggers.app import TriggersApp
from tests.support.waiting import eventually

from .helpers import BLOCK_ID, event_trigger, webhook
from .streams_io import actions_for, drain, emit, ping

if TYPE_CHECKING:
    Stub = pb_grpc.AutomationServiceAsyncStub


async def demo_automation(stub: Stub, name: str = "demo") -> apb.Automation:
    automation = apb.Automation(
        name=name,
        enabled=True,
        trigger=event_trigger(["demo.ping"], {"prefect.resource.id": "demo.*"}),
        actions=[webhook()],
    )
    response = await stub.CreateAutomation(pb.CreateAutomationRequest(automation=automation))
    return response.automation


async def test_a_matching_event_fires_one_triggered_action(
    triggers_app: TriggersApp, stub: Stub, js: JetStreamContext, namespace: str
) -> None:
    streams = Streams(namespace)
    automation = await demo_automation(stub)
    await eventually(lambda: triggers_app.is_loaded(automation.id), timeout=5, what="load")

    miss_name = ping("demo.pong", "demo.thing")
    miss_resource = ping("demo.ping", "other.thing")
    hit = ping("demo.ping", "demo.thing")
    await emit(js, streams, miss_name, miss_resource, hit)

    actions: list[spb.TriggeredAction] = []

    async def arrived() -> bool:
        actions[:] = await actions_for(js, streams, automation.id)
        return bool(actions)

    await eventually(arrived, timeout=5, what="a TriggeredAction")
    assert len(actions) == 1
    action = actions[0]
    assert action.triggering_event.id == hit.id
    assert action.action_index == 0
    assert action.action.call_webhook.block_document_id == BLOCK_ID
    assert action.group == spb.ACTION_GROUP_ACTIONS
    assert action.firing.trigger_id == automation.trigger.event.id
    assert action.automation.name == "demo"
    assert uuid.UUID(action.id)

    events = [
        epb.Event.FromString(m)
        for m in await drain(js, streams.events_stream, streams.events_subject(), wait=0.3)
    ]
    triggered = [e for e in events if e.event == "prefect.automation.triggered"]
    assert len(triggered) == 1
    state_event = triggered[0]
    assert state_event.id == action.automation_triggered_event_id
    assert dict(state_event.resource.labels) == {
        "prefect.resource.id": f"prefect.automation.{automation.id}",
        "prefect.resource.name": "demo",
        "prefect.posture": "Reactive",
    }
    assert [dict(r.labels) for r in state_event.related] == [
        {
            "prefect.resource.id": f"prefect.event.{hit.id}",
            "prefect.resource.role": "triggering-event",
        }
    ]
    assert json_format.MessageToDict(state_event.payload)["triggering_event"]["id"] == hit.id


async def test_a_paused_automation_does_not_fire(
    triggers_app: TriggersApp, stub: Stub, js: JetStreamContext, namespace: str
) -> None:
    streams = Streams(namespace)
    paused = await demo_automation(stub, "paused")
    await stub.PauseAutomation(pb.PauseAutomationRequest(id=paused.id))
    await eventually(lambda: not triggers_app.is_loaded(paused.id), timeout=2, what="unload")

    sentinel = await demo_automation(stub, "sentinel")
    await eventually(lambda: triggers_app.is_loaded(sentinel.id), timeout=2, what="load")
    await emit(js, streams, ping("demo.ping", "demo.one"))

    async def sentinel_fired() -> bool:
        return bool(await actions_for(js, streams, sentinel.id))

    await eventually(sentinel_fired, timeout=5, what="the sentinel's action")
    assert await actions_for(js, streams, paused.id) == []


async def test_changes_reach_the_evaluator_within_a_second(
    triggers_app: TriggersApp, stub: Stub
) -> None:
    automation = await demo_automation(stub)
    # The reconcile runs every 0.5 s in these tests; the change hint is faster still.
    await eventually(lambda: triggers_app.is_loaded(automation.id), timeout=1, what="load")
    await stub.DeleteAutomation(pb.DeleteAutomationRequest(id=automation.id))
    await eventually(lambda: not triggers_app.is_loaded(automation.id), timeout=1, what="unload")
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetAutomation(pb.GetAutomationRequest(id=automation.id))
