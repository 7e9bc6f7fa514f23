"""Issue-level acceptance through the real client against the three service processes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from automations import (
    Automation,
    CallWebhook,
    CancelFlowRun,
    EventTrigger,
    Webhook,
    emit_event,
)
from automations.v1 import (
    automation_pb2,
    automation_service_pb2,
    automation_service_pb2_grpc,
    event_pb2,
    events_service_pb2,
    events_service_pb2_grpc,
)
from automations_common.devstack import Stack
from tests.support.receivers import HttpReceiver


@pytest.fixture
def receiver():
    server = HttpReceiver()
    yield server
    server.close()


async def test_matching_event_fires_the_webhook_once(stack: Stack, receiver: HttpReceiver) -> None:
    suffix = uuid.uuid4().hex[:8]
    block_id = await asyncio.to_thread(
        Webhook(url=f"{receiver.url}/hook", allow_private_urls=True).save, f"hook-{suffix}"
    )
    automation = await asyncio.to_thread(
        Automation(
            name=f"ping-{suffix}",
            trigger=EventTrigger(
                expect={f"demo.ping.{suffix}"}, match={"prefect.resource.id": "demo.*"}
            ),
            actions=[
                CallWebhook(
                    block_document_id=block_id, payload="{{ event.resource.id }} {{ event.event }}"
                )
            ],
        ).create
    )
    assert automation.id is not None

    await asyncio.to_thread(
        emit_event, event=f"demo.ping.{suffix}", resource={"prefect.resource.id": "demo.1"}
    )
    await asyncio.to_thread(
        emit_event, event=f"demo.ping.{suffix}", resource={"prefect.resource.id": "other.1"}
    )

    requests = await receiver.wait_for(1, timeout=5)
    assert requests[0].text == f"demo.1 demo.ping.{suffix}"
    assert requests[0].path == "/hook"
    await asyncio.sleep(1.0)  # the non-matching event had its chance to (wrongly) fire
    assert len(receiver.requests) == 1, stack.logs()


async def test_woodchonk_lifecycle(stack: Stack) -> None:
    name = f"woodchonk-{uuid.uuid4().hex[:8]}"
    created = await asyncio.to_thread(
        Automation(
            name=name,
            trigger=EventTrigger(
                expect={"animal.walked"},
                match={"genus": "Marmota", "species": "monax"},
                posture="Reactive",
                threshold=3,
                within=timedelta(seconds=10),
            ),
            actions=[CancelFlowRun()],
        ).create
    )
    assert created.id is not None

    by_id = await asyncio.to_thread(Automation.read, id=created.id)
    by_name = await asyncio.to_thread(Automation.read, name=name)
    assert by_id.id == by_name.id == created.id
    assert isinstance(by_id.trigger, EventTrigger)
    assert by_id.trigger.threshold == 3
    assert by_id.trigger.within == timedelta(seconds=10)

    by_id.name = f"{name}-renamed"
    await asyncio.to_thread(by_id.update)
    assert (await asyncio.to_thread(Automation.read, id=created.id)).name == f"{name}-renamed"

    assert await asyncio.to_thread(by_id.disable) is True
    assert (await asyncio.to_thread(Automation.read, id=created.id)).enabled is False
    assert await asyncio.to_thread(by_id.enable) is True
    assert (await asyncio.to_thread(Automation.read, id=created.id)).enabled is True

    assert await asyncio.to_thread(by_id.delete) is True
    assert await asyncio.to_thread(by_id.delete) is False
    with pytest.raises(ValueError, match="not found"):
        await asyncio.to_thread(Automation.read, id=created.id)


def _violations(error: grpc.aio.AioRpcError) -> list[str]:
    for detail in _details(error):
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            return [v.field for v in bad_request.field_violations]
    return []


def _details(error: grpc.aio.AioRpcError) -> list[any_pb2.Any]:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return list(status_pb2.Status.FromString(value).details)
    return []


async def test_bad_input_gets_clear_statuses_and_the_services_keep_serving(stack: Stack) -> None:
    async with (
        grpc.aio.insecure_channel(stack.address("ingest")) as events_channel,
        grpc.aio.insecure_channel(stack.address("triggers")) as api_channel,
    ):
        events = events_service_pb2_grpc.EventsServiceStub(events_channel)
        api = automation_service_pb2_grpc.AutomationServiceStub(api_channel)

        good = event_pb2.Event(
            id=str(uuid.uuid4()),
            event="demo.bad-input",
            resource=event_pb2.Resource(labels={"prefect.resource.id": "demo.ok"}),
        )
        good.occurred_time.GetCurrentTime()
        no_resource_id = event_pb2.Event(id=str(uuid.uuid4()), event="demo.bad-input")
        no_resource_id.occurred_time.GetCurrentTime()
        no_role = event_pb2.Event(
            id=str(uuid.uuid4()),
            event="demo.bad-input",
            resource=event_pb2.Resource(labels={"prefect.resource.id": "demo.x"}),
            related=[event_pb2.Resource(labels={"prefect.resource.id": "demo.related"})],
        )
        no_role.occurred_time.GetCurrentTime()
        reply = await events.EmitEvents(
            events_service_pb2.EmitEventsRequest(events=[no_resource_id, good, no_role])
        )
        assert list(reply.accepted_ids) == [good.id]
        rejected = {r.index: r for r in reply.rejected}
        assert set(rejected) == {0, 2}
        assert "prefect.resource.id" in rejected[0].field
        assert "role" in rejected[2].field + rejected[2].reason

        proactive = automation_pb2.Automation(
            name="too-quick",
            trigger=automation_pb2.Trigger(
                event=automation_pb2.EventTrigger(
                    expect=["demo.x"],
                    posture=automation_pb2.POSTURE_PROACTIVE,
                    threshold=1,
                )
            ),
            actions=[automation_pb2.Action(do_nothing=automation_pb2.DoNothingAction())],
        )
        proactive.trigger.event.within.FromSeconds(5)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await api.CreateAutomation(
                automation_service_pb2.CreateAutomationRequest(automation=proactive)
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "trigger.event.within" in _violations(raised.value)
        assert "10" in (raised.value.details() or "")

        bad_template = automation_pb2.Automation(
            name="bad-template",
            trigger=automation_pb2.Trigger(
                event=automation_pb2.EventTrigger(
                    expect=["demo.x"], posture=automation_pb2.POSTURE_REACTIVE, threshold=1
                )
            ),
            actions=[
                automation_pb2.Action(
                    call_webhook=automation_pb2.CallWebhookAction(
                        block_document_id=str(uuid.uuid4()), payload="{{ event.id "
                    )
                )
            ],
        )
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await api.CreateAutomation(
                automation_service_pb2.CreateAutomationRequest(automation=bad_template)
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert any("actions[0]" in field for field in _violations(raised.value))

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await api.GetAutomation(
                automation_service_pb2.GetAutomationRequest(id=str(uuid.uuid4()))
            )
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await api.GetAutomation(automation_service_pb2.GetAutomationRequest(id="not-a-uuid"))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        # Still serving after all of that.
        count = await api.CountAutomations(automation_service_pb2.CountAutomationsRequest())
        assert count.count >= 0
        again = await events.EmitEvents(events_service_pb2.EmitEventsRequest(events=[good]))
        assert again.accepted_count == 1
