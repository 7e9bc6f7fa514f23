"""The service as built by app.py carries out notification and automation actions end to end.

TriggeredActions go through NATS (ACTIONS) into the real consumer; send-notification
reaches a real HTTP receiver in Slack's shape; pause-automation reaches the real triggers
service, built in-process on its own SQLite file with gRPC on a free port.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from automations.v1 import (
    action_run_pb2,
    automation_pb2,
    automation_service_pb2,
    automation_service_pb2_grpc,
    block_pb2,
    block_service_pb2,
)
from automations_common.settings import GrpcSettings, NatsSettings
from automations_triggers.app import TriggersApp
from automations_triggers.app import build as build_triggers
from automations_triggers.settings import TriggersSettings
from tests.integration.actions.harness import (
    Harness,
    actions_settings,
    running_actions,
    triggered_action,
)
from tests.support.receivers import HttpReceiver

pytestmark = pytest.mark.timeout(60)

SUCCEEDED = action_run_pb2.ACTION_RUN_STATE_SUCCEEDED


@pytest.fixture
async def triggers(nats_url: str, namespace: str, tmp_path: Path) -> AsyncIterator[TriggersApp]:
    settings = TriggersSettings(
        nats=NatsSettings(url=nats_url, namespace=namespace),
        grpc=GrpcSettings(port=0),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'triggers.db'}",
        data_dir=tmp_path / "triggers",
    )
    app = build_triggers(settings)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def actions(
    nats_url: str, namespace: str, tmp_path: Path, triggers: TriggersApp
) -> AsyncIterator[Harness]:
    settings = actions_settings(
        nats_url,
        namespace,
        f"sqlite+aiosqlite:///{tmp_path / 'actions.db'}",
        tmp_path / "actions",
        automations_api_url=triggers.grpc_address,
    )
    async with running_actions(settings) as harness:
        yield harness


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    yield r
    r.close()


async def test_send_notification_reaches_slack_through_the_consumer(
    actions: Harness, receiver: HttpReceiver
) -> None:
    created = await actions.blocks.CreateBlock(
        block_service_pb2.CreateBlockRequest(
            block=block_pb2.Block(
                name=f"slack-{uuid.uuid4().hex[:8]}",
                slack_webhook=block_pb2.SlackWebhookBlock(
                    url=receiver.url + "/services/T0/B0/secret", allow_private_urls=True
                ),
            )
        )
    )
    action = automation_pb2.Action(
        send_notification=automation_pb2.SendNotificationAction(
            block_document_id=created.block.id,
            subject="{{ automation.name }} fired",
            body="{{ event.event }} on {{ event.resource.id }}",
        )
    )
    message = triggered_action(action)
    await actions.publish(message)

    [request] = await receiver.wait_for(1)
    run = await actions.finished_run(message.id)
    assert request.path == "/services/T0/B0/secret"
    assert json.loads(request.body) == {
        "text": "*ping the receiver fired*\ndemo.ping on demo.thing.1"
    }
    assert run.state == SUCCEEDED, run.reason
    assert run.result["status_code"] == 200
    assert "secret" not in json.dumps(dict(run.rendered_request))


async def test_pause_automation_pauses_it_in_the_triggers_service(
    actions: Harness, triggers: TriggersApp
) -> None:
    async with grpc.aio.insecure_channel(triggers.grpc_address) as channel:
        api = automation_service_pb2_grpc.AutomationServiceStub(channel)
        created = await api.CreateAutomation(
            automation_service_pb2.CreateAutomationRequest(
                automation=automation_pb2.Automation(
                    name="to be paused",
                    enabled=True,
                    trigger=automation_pb2.Trigger(
                        event=automation_pb2.EventTrigger(
                            expect=["demo.ping"],
                            posture=automation_pb2.POSTURE_REACTIVE,
                            threshold=1,
                        )
                    ),
                    actions=[automation_pb2.Action(do_nothing=automation_pb2.DoNothingAction())],
                )
            )
        )
        target = created.automation.id
        action = automation_pb2.Action(
            pause_automation=automation_pb2.AutomationAction(
                source=automation_pb2.TARGET_SOURCE_SELECTED, automation_id=target
            )
        )
        message = triggered_action(action)
        await actions.publish(message)

        run = await actions.finished_run(message.id)
        assert run.state == SUCCEEDED, run.reason
        reply = await api.GetAutomation(automation_service_pb2.GetAutomationRequest(id=target))
        assert reply.automation.enabled is False
        assert run.result["automation_id"] == target
