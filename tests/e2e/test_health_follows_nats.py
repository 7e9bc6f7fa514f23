"""Health follows NATS (DESIGN §3): every process reports NOT_SERVING while its nats-server
is gone and SERVING again once it is back, without a restart."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from automations_common.devstack import PROCESSES, NatsServer, Stack, free_port
from tests.support.grpc_typing import health_stub
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(180)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def statuses(stack: Stack) -> dict[str, int]:
    """Each process's overall health status."""
    found: dict[str, int] = {}
    for process in PROCESSES:
        async with grpc.aio.insecure_channel(stack.address(process)) as channel:
            reply = await health_stub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            found[process] = int(reply.status)
    return found


async def test_health_is_not_serving_while_nats_is_gone(tmp_path: Path) -> None:
    broker = NatsServer(free_port(), tmp_path / "nats", tmp_path / "nats.log")
    broker.start()
    broker.wait_ready()
    stack = Stack(broker.url, tmp_path / "stack", namespace=f"h{uuid.uuid4().hex[:8]}")
    try:
        await asyncio.to_thread(stack.start_all)
        assert set((await statuses(stack)).values()) == {SERVING}

        broker.stop()

        async def all_not_serving() -> bool:
            return set((await statuses(stack)).values()) == {NOT_SERVING}

        await eventually(all_not_serving, timeout=20, what="NOT_SERVING everywhere")
        assert not stack.exited(), stack.logs()

        broker.start()  # same port, same store
        broker.wait_ready()

        async def all_serving() -> bool:
            return set((await statuses(stack)).values()) == {SERVING}

        await eventually(all_serving, timeout=30, what="SERVING everywhere again")
    finally:
        stack.stop_all()
        broker.stop()
    codes = [p.process.returncode if p.process else None for p in stack.processes.values()]
    assert codes == [0] * len(PROCESSES), stack.logs()
