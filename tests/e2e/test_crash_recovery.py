"""SIGKILL a service while events stream in: every firing still happens exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from automations import (
    Automation,
    AutomationsClient,
    CallWebhook,
    Event,
    EventTrigger,
    Resource,
    Webhook,
)
from automations_common.devstack import Stack
from tests.support.receivers import HttpReceiver

EVENTS = 300
BATCH = 10


@pytest.fixture
def crash_stack(nats_url: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(
        nats_url,
        tmp_path,
        namespace=f"crash{uuid.uuid4().hex[:8]}",
        extra_env={"TRIGGERS_ACK_WAIT_SECONDS": "3", "ACTIONS_CONSUMER__ACK_WAIT_SECONDS": "5"},
    )
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver()
    yield server
    server.close()


async def _emit_slowly(client: AutomationsClient, name: str, ids: list[str]) -> None:
    for start in range(0, len(ids), BATCH):
        batch = [
            Event(
                id=uuid.UUID(event_id),
                event=name,
                resource=Resource({"prefect.resource.id": f"crash.{event_id}"}),
            )
            for event_id in ids[start : start + BATCH]
        ]
        while True:  # a producer retries a batch until ingest acknowledges it
            try:
                result = await client.emit_events(batch)
            except Exception:
                await asyncio.sleep(0.2)
                continue
            assert not result.rejected
            break
        await asyncio.sleep(0.02)


@pytest.mark.timeout(180)
async def test_killing_triggers_mid_stream_fires_each_firing_exactly_once(
    crash_stack: Stack, receiver: HttpReceiver
) -> None:
    name = f"crash.ping.{uuid.uuid4().hex[:8]}"
    async with AutomationsClient(
        api_url=crash_stack.address("triggers"),
        events_url=crash_stack.address("ingest"),
        actions_url=crash_stack.address("actions"),
    ) as client:
        block = await Webhook(url=f"{receiver.url}/hook", allow_private_urls=True).asave(
            f"crash-{name}", client=client
        )
        await Automation(
            name=name,
            trigger=EventTrigger(expect={name}, match={"prefect.resource.id": "crash.*"}),
            actions=[CallWebhook(block_document_id=block, payload="{{ event.id }}")],
        ).acreate(client=client)

        ids = [str(uuid.uuid4()) for _ in range(EVENTS)]
        emitting = asyncio.create_task(_emit_slowly(client, name, ids))
        await receiver.wait_for(EVENTS // 4, timeout=60)
        crash_stack.kill("triggers")
        await asyncio.sleep(0.5)
        await asyncio.to_thread(crash_stack.start, "triggers")
        await emitting

        await receiver.wait_for(EVENTS, timeout=90)
        await asyncio.sleep(4)  # time for any (wrong) duplicate to arrive
        bodies = Counter(request.text for request in receiver.requests)
        keys = Counter(request.headers.get("Idempotency-Key") for request in receiver.requests)
        assert set(bodies) == set(ids), crash_stack.logs()
        assert max(bodies.values()) == 1, f"duplicates: {[b for b, n in bodies.items() if n > 1]}"
        assert len(keys) == EVENTS
