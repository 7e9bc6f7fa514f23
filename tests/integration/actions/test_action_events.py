"""Every action's events reach EVENTS exactly once, whatever NATS did while they were sent.

The stream is read back (not a subscriber's copies): a copy JetStream refused or dropped as
a duplicate must not count.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from automations.v1 import action_run_pb2, event_pb2
from automations_common.devstack import NatsServer, free_port
from automations_common.streams import Streams
from tests.integration.actions.harness import (
    actions_settings,
    named,
    running_actions,
    stored_events,
    triggered_action,
    webhook_action,
)
from tests.support.receivers import HttpReceiver
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(90)

SUCCEEDED = action_run_pb2.ACTION_RUN_STATE_SUCCEEDED


async def published_once(
    nc: NatsClient, streams: Streams, action_id: str, timeout: float = 30.0
) -> list[event_pb2.Event]:
    """EVENTS once the action's executed event is in it and its message was acked."""

    async def settled() -> list[event_pb2.Event] | None:
        events = await stored_events(nc, streams)
        if not named(events, "executed", action_id):
            return None
        consumer = await nc.jetstream().consumer_info(streams.actions_stream, "actions")
        if consumer.num_ack_pending or consumer.num_pending:
            return None
        return events

    return await eventually(settled, timeout=timeout, what=f"action {action_id}'s events")


def assert_triggered_then_executed(events: list[event_pb2.Event], action_id: str) -> None:
    [triggered] = named(events, "triggered", action_id)
    [executed] = named(events, "executed", action_id)
    assert executed.follows == triggered.id
    assert events.index(triggered) < events.index(executed)


async def test_events_the_stream_refused_are_published_once_it_takes_them_again(
    nats_url: str, namespace: str, tmp_path: Path
) -> None:
    receiver = HttpReceiver()
    settings = actions_settings(
        nats_url, namespace, f"sqlite+aiosqlite:///{tmp_path / 'actions.db'}", tmp_path / "data"
    )
    streams = Streams(namespace)
    try:
        async with running_actions(settings) as actions:
            js = actions.nc.jetstream()
            block = await actions.create_webhook_block(receiver.url)
            config = (await js.stream_info(streams.events_stream)).config
            # Every event is now too big for EVENTS: JetStream refuses each publish at once.
            await js.update_stream(dataclasses.replace(config, max_msg_size=16))
            message = triggered_action(webhook_action(block.id, "once"))
            await actions.publish(message)
            run = await actions.finished_run(message.id)
            assert run.state == SUCCEEDED, run.reason
            # Longer than the three tries (1.2 s) after which the events used to be dropped.
            await asyncio.sleep(2.0)
            assert named(await stored_events(actions.nc, streams), "executed", message.id) == []

            await js.update_stream(config)
            events = await published_once(actions.nc, streams, message.id)
            assert_triggered_then_executed(events, message.id)
            assert len(receiver.requests) == 1
            assert len((await actions.run(message.id)).attempts) == 1
    finally:
        receiver.close()


async def test_nats_stopped_while_an_action_runs_loses_none_of_its_events(
    namespace: str, tmp_path: Path
) -> None:
    broker = NatsServer(free_port(), tmp_path / "nats", tmp_path / "nats.log")
    broker.start()
    broker.wait_ready()
    # The answer comes after NATS has gone, so the outcome is published into the outage.
    receiver = HttpReceiver(delay_seconds=1.0)
    settings = actions_settings(
        broker.url, namespace, f"sqlite+aiosqlite:///{tmp_path / 'actions.db'}", tmp_path / "data"
    )
    streams = Streams(namespace)
    try:
        async with running_actions(settings) as actions:
            block = await actions.create_webhook_block(receiver.url)
            message = triggered_action(webhook_action(block.id, "outage"))
            await actions.publish(message)
            await receiver.wait_for(1)
            await asyncio.to_thread(broker.stop)
            run = await actions.finished_run(message.id)
            assert run.state == SUCCEEDED, run.reason
            await asyncio.sleep(1.5)
            broker.start()  # same port, same store
            await asyncio.to_thread(broker.wait_ready)
            await eventually(lambda: actions.nc.is_connected, what="the test's NATS connection")
            events = await published_once(actions.nc, streams, message.id)
            assert_triggered_then_executed(events, message.id)
            assert len(receiver.requests) == 1
    finally:
        broker.stop()
        receiver.close()
