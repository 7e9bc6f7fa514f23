"""An in-process actions service on loopback, and helpers to feed it TriggeredActions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import nats
from google.protobuf import timestamp_pb2
from grpc_health.v1 import health_pb2
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError

from automations.v1 import (
    action_run_pb2,
    action_service_pb2,
    action_service_pb2_grpc,
    automation_pb2,
    block_pb2,
    block_service_pb2,
    block_service_pb2_grpc,
    event_pb2,
    stream_pb2,
)
from automations_actions.app import ActionsApp, build
from automations_actions.settings import ActionsSettings, ConsumerSettings, RetrySettings
from automations_common.ids import derived_id
from automations_common.settings import GrpcSettings, NatsSettings
from automations_common.streams import Streams
from tests.support.grpc_typing import health_stub
from tests.support.waiting import eventually


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC))
    return stamp


def demo_event(resource_id: str = "demo.thing.1", name: str = "demo.ping") -> event_pb2.Event:
    return event_pb2.Event(
        id=str(uuid.uuid4()),
        occurred_time=_now(),
        event=name,
        resource=event_pb2.Resource(
            labels={"prefect.resource.id": resource_id, "prefect.resource.name": "thing"}
        ),
        related=[
            event_pb2.Resource(
                labels={"prefect.resource.id": "demo.owner.7", "prefect.resource.role": "owner"}
            )
        ],
    )


def webhook_action(block_id: str, payload: str) -> automation_pb2.Action:
    return automation_pb2.Action(
        call_webhook=automation_pb2.CallWebhookAction(block_document_id=block_id, payload=payload)
    )


def triggered_action(
    action: automation_pb2.Action, event: event_pb2.Event | None = None, index: int = 0
) -> stream_pb2.TriggeredAction:
    """A TriggeredAction as the triggers service publishes it."""
    event = event if event is not None else demo_event()
    firing_id = str(uuid.uuid4())
    automation = automation_pb2.Automation(
        id=str(uuid.uuid4()),
        name="ping the receiver",
        enabled=True,
        trigger=automation_pb2.Trigger(
            event=automation_pb2.EventTrigger(
                id=str(uuid.uuid4()),
                expect=["demo.ping"],
                posture=automation_pb2.POSTURE_REACTIVE,
                threshold=1,
            )
        ),
        actions=[action],
        workspace="default",
    )
    firing = stream_pb2.Firing(
        id=firing_id,
        trigger_id=automation.trigger.event.id,
        trigger_states=[stream_pb2.TRIGGER_STATE_TRIGGERED],
        triggered_time=_now(),
        triggering_labels={"prefect.resource.id": event.resource.labels["prefect.resource.id"]},
        triggering_event=event,
    )
    return stream_pb2.TriggeredAction(
        id=derived_id(firing_id, index),
        automation=automation,
        firing=firing,
        triggering_event=event,
        action_index=index,
        action=action,
        group=stream_pb2.ACTION_GROUP_ACTIONS,
        triggered_time=firing.triggered_time,
        automation_triggered_event_id=str(uuid.uuid4()),
    )


@dataclass
class Harness:
    app: ActionsApp
    nc: NatsClient
    channel: grpc.aio.Channel
    events: list[event_pb2.Event] = field(default_factory=list)

    @property
    def blocks(self) -> block_service_pb2_grpc.BlockServiceAsyncStub:
        return block_service_pb2_grpc.BlockServiceStub(self.channel)

    @property
    def runs(self) -> action_service_pb2_grpc.ActionServiceAsyncStub:
        return action_service_pb2_grpc.ActionServiceStub(self.channel)

    async def create_webhook_block(
        self,
        url: str,
        *,
        name: str | None = None,
        allow_private_urls: bool = True,
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> block_pb2.Block:
        block = block_pb2.Block(
            name=name or f"hook-{uuid.uuid4().hex[:8]}",
            webhook=block_pb2.WebhookBlock(
                url=url,
                method=method,
                headers=headers or {},
                allow_private_urls=allow_private_urls,
                verify=True,
            ),
        )
        reply = await self.blocks.CreateBlock(block_service_pb2.CreateBlockRequest(block=block))
        return reply.block

    async def publish(self, message: stream_pb2.TriggeredAction, msg_id: str = "") -> None:
        js = self.nc.jetstream()
        await js.publish(
            self.app.streams.actions_subject("default"),
            message.SerializeToString(),
            headers={"Nats-Msg-Id": msg_id or message.id},
        )

    async def run(self, action_id: str) -> action_run_pb2.ActionRun:
        reply = await self.runs.GetActionRun(action_service_pb2.GetActionRunRequest(id=action_id))
        return reply.action_run

    async def finished_run(self, action_id: str, timeout: float = 10.0) -> action_run_pb2.ActionRun:
        """The action run once it is SUCCEEDED or FAILED."""
        terminal = {
            action_run_pb2.ACTION_RUN_STATE_SUCCEEDED,
            action_run_pb2.ACTION_RUN_STATE_FAILED,
        }

        async def check() -> action_run_pb2.ActionRun | None:
            try:
                run = await self.run(action_id)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return None
                raise
            return run if run.state in terminal else None

        return await eventually(check, timeout=timeout, what=f"action {action_id} finished")

    def events_named(self, name: str, action_id: str = "") -> list[event_pb2.Event]:
        return [
            e
            for e in self.events
            if e.event == name
            and (not action_id or e.payload.fields["invocation"].string_value == action_id)
        ]

    async def assert_serving(self) -> None:
        health = health_stub(self.channel)
        reply = await health.Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        await self.blocks.ListBlocks(block_service_pb2.ListBlocksRequest())


async def stored_events(nc: NatsClient, streams: Streams) -> list[event_pb2.Event]:
    """What the EVENTS stream holds, in order: unlike a subscriber's copies, only what
    JetStream accepted, and each duplicate it dropped counted once."""
    js = nc.jetstream()
    state = (await js.stream_info(streams.events_stream)).state
    if not state.messages:
        return []
    events = []
    for sequence in range(state.first_seq, state.last_seq + 1):
        try:
            message = await js.get_msg(streams.events_stream, sequence)
        except NotFoundError:
            continue
        events.append(event_pb2.Event.FromString(message.data or b""))
    return events


def named(events: list[event_pb2.Event], name: str, action_id: str) -> list[event_pb2.Event]:
    """The `prefect.automation.action.<name>` events of one action."""
    return [
        e
        for e in events
        if e.event == f"prefect.automation.action.{name}"
        and e.payload.fields["invocation"].string_value == action_id
    ]


def actions_settings(
    nats_url: str, namespace: str, database_url: str, data_dir: Path, **overrides: Any
) -> ActionsSettings:
    return ActionsSettings(
        nats=NatsSettings(url=nats_url, namespace=namespace),
        grpc=GrpcSettings(port=0),
        database_url=database_url,
        data_dir=data_dir,
        retry=RetrySettings(max_attempts=3, backoff_base_seconds=0.05, backoff_cap_seconds=0.2),
        consumer=ConsumerSettings(ack_wait_seconds=10.0),
        http_timeout_seconds=2.0,
        **overrides,
    )


@asynccontextmanager
async def running_actions(settings: ActionsSettings) -> AsyncIterator[Harness]:
    app = build(settings)
    await app.start()
    nc = await nats.connect(settings.nats.url)
    channel = grpc.aio.insecure_channel(app.grpc_address)
    harness = Harness(app, nc, channel)

    async def collect(msg: Msg) -> None:
        harness.events.append(event_pb2.Event.FromString(msg.data))

    await nc.subscribe(app.streams.events_subject("default"), cb=collect)
    try:
        yield harness
    finally:
        await channel.close()
        await nc.drain()
        await app.stop()
