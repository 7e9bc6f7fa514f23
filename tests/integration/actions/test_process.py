"""The actions service as its own process: SIGKILL mid-batch loses and repeats nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import grpc
import nats
import pytest

from automations.v1 import (
    action_run_pb2,
    action_service_pb2,
    action_service_pb2_grpc,
    block_pb2,
    block_service_pb2,
    block_service_pb2_grpc,
    event_pb2,
)
from automations_common.devstack import (
    ManagedProcess,
    NatsServer,
    free_port,
    service_process,
    wait_for_health,
)
from automations_common.streams import Streams
from tests.integration.actions.harness import (
    named,
    stored_events,
    triggered_action,
    webhook_action,
)
from tests.support.receivers import HttpReceiver
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(90)
ACTIONS = 60


def service_env(
    nats_url: str, namespace: str, data_dir: Path, **extra: str
) -> tuple[str, dict[str, str]]:
    """The address an actions process will serve on, and its environment."""
    port = free_port()
    env = {
        "ACTIONS_NATS__URL": nats_url,
        "ACTIONS_NATS__NAMESPACE": namespace,
        "ACTIONS_GRPC__PORT": str(port),
        "ACTIONS_DATA_DIR": str(data_dir),
        **extra,
    }
    return f"127.0.0.1:{port}", env


async def start(env: dict[str, str], log: Path, address: str) -> ManagedProcess:
    process = service_process("actions", env, log)
    process.start()
    await asyncio.to_thread(wait_for_health, address, 30.0, process)
    return process


async def webhook_block(channel: grpc.aio.Channel, name: str, url: str) -> str:
    """A webhook block to the local receiver; its id."""
    reply = await block_service_pb2_grpc.BlockServiceStub(channel).CreateBlock(
        block_service_pb2.CreateBlockRequest(
            block=block_pb2.Block(
                name=name,
                webhook=block_pb2.WebhookBlock(
                    url=url, method="POST", allow_private_urls=True, verify=True
                ),
            )
        )
    )
    return reply.block.id


async def test_sigkill_mid_batch_then_restart_sends_each_webhook_once_per_key(
    nats_url: str, namespace: str, tmp_path: Path
) -> None:
    receiver = HttpReceiver(delay_seconds=0.1)
    address, env = service_env(
        nats_url,
        namespace,
        tmp_path,
        # Redelivery after the crash comes after ack_wait; keep the test short.
        ACTIONS_CONSUMER__ACK_WAIT_SECONDS="2",
        ACTIONS_CONSUMER__CONCURRENCY="8",
        ACTIONS_CONSUMER__BATCH_SIZE="8",
    )
    process = await start(env, tmp_path / "actions.log", address)
    nc = await nats.connect(nats_url)
    channel = grpc.aio.insecure_channel(address)
    try:
        block_id = await webhook_block(channel, "crash", receiver.url)
        messages = [triggered_action(webhook_action(block_id, f"n{i}")) for i in range(ACTIONS)]
        js = nc.jetstream()
        subject = Streams(namespace).actions_subject("default")
        for message in messages:
            await js.publish(
                subject, message.SerializeToString(), headers={"Nats-Msg-Id": message.id}
            )
        await receiver.wait_for(10)
        process.kill()
        received_at_kill = len(receiver.requests)
        assert received_at_kill < ACTIONS, "the crash came too late to test anything"

        process = await start(env, tmp_path / "actions.log", address)
        expected = {m.id for m in messages}

        def every_key_arrived() -> bool:
            return {r.headers["Idempotency-Key"] for r in receiver.requests} == expected

        await eventually(every_key_arrived, timeout=40, what="every action's webhook")
        runs = action_service_pb2_grpc.ActionServiceStub(channel)

        async def all_succeeded() -> bool:
            listed = await runs.ListActionRuns(
                action_service_pb2.ListActionRunsRequest(page_size=500)
            )
            states = [r.state for r in listed.action_runs]
            return len(states) == ACTIONS and all(
                s == action_run_pb2.ACTION_RUN_STATE_SUCCEEDED for s in states
            )

        await eventually(all_succeeded, timeout=20, what="every action run SUCCEEDED")
        counts = Counter(r.headers["Idempotency-Key"] for r in receiver.requests)
        repeated = [key for key, n in counts.items() if n > 1]
        # Only actions in flight at the kill (8 sending, a few more being recorded) may
        # have been sent twice, and then with the same key.
        assert len(repeated) <= 16, counts
    finally:
        await channel.close()
        await nc.drain()
        process.stop()
        receiver.close()
    assert process.process is not None
    assert process.process.returncode == 0, process.log_tail()


async def test_sigkill_in_a_first_attempt_still_publishes_action_triggered_on_the_next(
    nats_url: str, namespace: str, tmp_path: Path
) -> None:
    """Attempt 1 dies waiting for the webhook, before any of its events are out; attempt 2,
    after the restart, publishes action.triggered with action.executed, which follows it."""
    receiver = HttpReceiver(delay_seconds=1.0)
    address, env = service_env(
        nats_url, namespace, tmp_path, ACTIONS_CONSUMER__ACK_WAIT_SECONDS="2"
    )
    streams = Streams(namespace)
    process = await start(env, tmp_path / "actions.log", address)
    nc = await nats.connect(nats_url)
    channel = grpc.aio.insecure_channel(address)
    try:
        block_id = await webhook_block(channel, "first-attempt", receiver.url)
        message = triggered_action(webhook_action(block_id, "again"))
        await nc.jetstream().publish(
            streams.actions_subject("default"),
            message.SerializeToString(),
            headers={"Nats-Msg-Id": message.id},
        )
        await receiver.wait_for(1)
        process.kill()
        assert named(await stored_events(nc, streams), "triggered", message.id) == []

        process = await start(env, tmp_path / "actions.log", address)

        async def executed() -> list[event_pb2.Event] | None:
            events = await stored_events(nc, streams)
            return events if named(events, "executed", message.id) else None

        events = await eventually(executed, timeout=30, what="action.executed in EVENTS")
        [triggered] = named(events, "triggered", message.id)
        [done] = named(events, "executed", message.id)
        assert done.follows == triggered.id
        # The send that was cut off is repeated, with the same key.
        assert [r.headers["Idempotency-Key"] for r in receiver.requests] == [message.id] * 2
    finally:
        await channel.close()
        await nc.drain()
        process.stop()
        receiver.close()
    assert process.process is not None
    assert process.process.returncode == 0, process.log_tail()


async def test_losing_nats_mid_run_is_waited_out_and_no_action_is_lost(tmp_path: Path) -> None:
    """NATS goes away between two bursts of actions and comes back on the same port with
    its store: the service reconnects by itself and carries out the second burst too."""
    receiver = HttpReceiver()
    broker = NatsServer(free_port(), tmp_path / "nats", tmp_path / "nats.log")
    broker.start()
    broker.wait_ready()
    address, env = service_env(broker.url, "lost", tmp_path)
    process = await start(env, tmp_path / "actions.log", address)
    channel = grpc.aio.insecure_channel(address)
    try:
        block_id = await webhook_block(channel, "lost", receiver.url)

        async def publish(first: int, count: int) -> set[str]:
            messages = [
                triggered_action(webhook_action(block_id, f"n{i}"))
                for i in range(first, first + count)
            ]
            nc = await nats.connect(broker.url)
            try:
                for message in messages:
                    await nc.jetstream().publish(
                        Streams("lost").actions_subject("default"),
                        message.SerializeToString(),
                        headers={"Nats-Msg-Id": message.id},
                    )
            finally:
                await nc.close()
            return {m.id for m in messages}

        expected = await publish(0, 10)

        def arrived() -> bool:
            return {r.headers["Idempotency-Key"] for r in receiver.requests} == expected

        await eventually(arrived, timeout=20, what="the first burst's webhooks")
        broker.stop()
        await asyncio.sleep(2.0)  # the service notices and keeps trying
        broker.start()  # same port, same store
        broker.wait_ready()
        expected |= await publish(10, 10)
        await eventually(arrived, timeout=40, what="the second burst's webhooks")
        counts = Counter(r.headers["Idempotency-Key"] for r in receiver.requests)
        assert max(counts.values()) == 1, counts
    finally:
        await channel.close()
        process.stop()
        broker.stop()
        receiver.close()
    assert process.process is not None
    assert process.process.returncode == 0, process.log_tail()
