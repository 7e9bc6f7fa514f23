"""SIGKILL the triggers process while events stream in: every firing still happens once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import grpc
import nats
from nats.js import JetStreamContext

from automations.v1 import automation_pb2 as apb
from automations.v1 import automation_service_pb2 as pb
from automations.v1 import automation_service_pb2_grpc as pb_grpc
from automations.v1 import stream_pb2 as spb
from automations_common.devstack import (
    ManagedProcess,
    NatsServer,
    free_port,
    service_process,
    wait_for_health,
)
from automations_common.streams import Streams
from tests.support.waiting import eventually

from .helpers import event_trigger, webhook
from .streams_io import drain, emit, ping

EVENTS = 400
T = TypeVar("T")


async def start(env: dict[str, str], log: Path) -> ManagedProcess:
    process = service_process("triggers", env, log)
    process.start()
    await asyncio.to_thread(
        wait_for_health, f"127.0.0.1:{env['TRIGGERS_GRPC__PORT']}", 30.0, process
    )
    return process


async def test_a_killed_evaluator_fires_every_firing_exactly_once_after_restart(
    nats_url: str, namespace: str, tmp_path: Path, js: JetStreamContext
) -> None:
    streams = Streams(namespace)
    port = free_port()
    env = {
        "TRIGGERS_NATS__URL": nats_url,
        "TRIGGERS_NATS__NAMESPACE": namespace,
        "TRIGGERS_GRPC__PORT": str(port),
        "TRIGGERS_DATA_DIR": str(tmp_path / "data"),
        "TRIGGERS_DATABASE_URL": "",
        "TRIGGERS_BATCH_SIZE": "16",  # many small batches, so the kill lands mid-stream
        # What the killed process had fetched comes back after ack_wait: keep the test short.
        "TRIGGERS_ACK_WAIT_SECONDS": "2",
    }
    process = await start(env, tmp_path / "first.log")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.AutomationServiceStub(channel)
            automation = (
                await stub.CreateAutomation(
                    pb.CreateAutomationRequest(
                        automation=apb.Automation(
                            name="every ping",
                            enabled=True,
                            trigger=event_trigger(["demo.ping"], {"prefect.resource.id": "demo.*"}),
                            actions=[webhook(), apb.Action(do_nothing=apb.DoNothingAction())],
                        )
                    )
                )
            ).automation
        await asyncio.sleep(1.0)  # loaded through the change hint (the reconcile is the backstop)
        events = [ping("demo.ping", f"demo.{i}") for i in range(EVENTS)]
        for start_at in range(0, EVENTS // 2, 20):
            await emit(js, streams, *events[start_at : start_at + 20])
        await asyncio.sleep(0.05)
        process.kill()  # mid-stream, with batches in flight
        for start_at in range(EVENTS // 2, EVENTS, 20):
            await emit(js, streams, *events[start_at : start_at + 20])
        process = await start(env, tmp_path / "second.log")

        async def all_fired() -> bool:
            info = await js.stream_info(streams.actions_stream)
            return (info.state.messages or 0) >= 2 * EVENTS

        await eventually(all_fired, timeout=30, what="every TriggeredAction")
        await asyncio.sleep(0.5)  # anything extra would show up now
        actions = [
            spb.TriggeredAction.FromString(m)
            for m in await drain(js, streams.actions_stream, streams.actions_subject(), wait=0.5)
        ]
    finally:
        process.stop(timeout=10)
    assert all(a.automation.id == automation.id for a in actions)
    assert len(actions) == 2 * EVENTS  # no duplicate stored...
    pairs = {(a.triggering_event.id, a.action_index) for a in actions}
    assert pairs == {(e.id, i) for e in events for i in (0, 1)}  # ...and none missing


async def test_losing_nats_mid_run_is_waited_out_and_every_event_still_fires(
    tmp_path: Path,
) -> None:
    """NATS goes away between two bursts of events and comes back on the same port with
    its store: the evaluator reconnects by itself and fires for the second burst too."""
    broker = NatsServer(free_port(), tmp_path / "nats", tmp_path / "nats.log")
    broker.start()
    broker.wait_ready()
    streams = Streams("lost")
    port = free_port()
    env = {
        "TRIGGERS_NATS__URL": broker.url,
        "TRIGGERS_NATS__NAMESPACE": "lost",
        "TRIGGERS_GRPC__PORT": str(port),
        "TRIGGERS_DATA_DIR": str(tmp_path / "data"),
        "TRIGGERS_DATABASE_URL": "",
    }
    process = await start(env, tmp_path / "triggers.log")
    events = [ping("demo.ping", f"demo.{i}") for i in range(40)]

    async def with_jetstream(use: Callable[[JetStreamContext], Awaitable[T]]) -> T:
        nc = await nats.connect(broker.url)
        try:
            return await use(nc.jetstream())
        finally:
            await nc.close()

    async def fired() -> set[str]:
        messages = await with_jetstream(
            lambda js: drain(js, streams.actions_stream, streams.actions_subject(), wait=0.3)
        )
        return {spb.TriggeredAction.FromString(m).triggering_event.id for m in messages}

    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await pb_grpc.AutomationServiceStub(channel).CreateAutomation(
                pb.CreateAutomationRequest(
                    automation=apb.Automation(
                        name="every ping",
                        enabled=True,
                        trigger=event_trigger(["demo.ping"], {"prefect.resource.id": "demo.*"}),
                        actions=[apb.Action(do_nothing=apb.DoNothingAction())],
                    )
                )
            )
        await asyncio.sleep(1.0)  # loaded through the change hint
        await with_jetstream(lambda js: emit(js, streams, *events[:20]))

        async def first_burst_fired() -> bool:
            return await fired() == {e.id for e in events[:20]}

        await eventually(first_burst_fired, timeout=20, what="the first burst's firings")
        broker.stop()
        await asyncio.sleep(2.0)  # the service notices and keeps trying
        broker.start()  # same port, same store
        broker.wait_ready()
        await with_jetstream(lambda js: emit(js, streams, *events[20:]))

        async def all_fired() -> bool:
            return await fired() == {e.id for e in events}

        await eventually(all_fired, timeout=40, what="the second burst's firings")
    finally:
        process.stop(timeout=10)
        broker.stop()
    assert process.process is not None
    assert process.process.returncode == 0, process.log_tail()
