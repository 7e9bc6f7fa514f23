"""The headline scenario on a real Prefect server: a stuck flow run is cancelled and reported.

Events come from Prefect through the bridge; the proactive automation cancels the run that
stays in Running through Prefect's API and sends a notification naming it; a run that
completes in time is left alone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from automations import (
    Automation,
    AutomationsClient,
    CancelFlowRun,
    EventTrigger,
    SendNotification,
    SlackWebhook,
)
from automations_common.devstack import Stack
from tests.support.prefect_server import (
    IDLE_SERVICES,
    PrefectObjects,
    PrefectServer,
    ensure_prefect_venv,
)
from tests.support.receivers import HttpReceiver

TERMINAL = {
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Crashed",
    "prefect.flow-run.Cancelled",
}

pytestmark = [pytest.mark.prefect, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def prefect_for_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """Prefect with its event persister on, so the bridge can resume from stored events."""
    server = PrefectServer(
        ensure_prefect_venv(),
        tmp_path_factory.mktemp("prefect-e2e"),
        idle_services=tuple(name for name in IDLE_SERVICES if name != "EVENT_PERSISTER"),
    )
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def bridged_stack(
    nats_url: str, tmp_path: Path, prefect_for_bridge: PrefectServer
) -> Iterator[Stack]:
    stack = Stack(
        nats_url,
        tmp_path,
        namespace=f"stuck{uuid.uuid4().hex[:8]}",
        extra_env={
            "INGEST_PREFECT_BRIDGE__URL": prefect_for_bridge.api_url,
            "ACTIONS_PREFECT_API_URL": prefect_for_bridge.api_url,
        },
    )
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
async def prefect_objects(prefect_for_bridge: PrefectServer) -> AsyncIterator[PrefectObjects]:
    objects = PrefectObjects(prefect_for_bridge.api_url)
    yield objects
    await objects.aclose()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver()
    yield server
    server.close()


async def test_a_stuck_flow_run_is_cancelled_and_reported(
    bridged_stack: Stack, prefect_objects: PrefectObjects, receiver: HttpReceiver
) -> None:
    async with AutomationsClient(
        api_url=bridged_stack.address("triggers"),
        events_url=bridged_stack.address("ingest"),
        actions_url=bridged_stack.address("actions"),
    ) as client:
        slack = await SlackWebhook(url=f"{receiver.url}/slack", allow_private_urls=True).asave(
            f"oncall-{uuid.uuid4().hex[:8]}", client=client
        )
        await Automation(
            name="cancel stuck flow runs",
            trigger=EventTrigger(
                posture="Proactive",
                after={"prefect.flow-run.Running"},
                expect=TERMINAL,
                match={"prefect.resource.id": "prefect.flow-run.*"},
                for_each={"prefect.resource.id"},
                threshold=1,
                within=15,
            ),
            actions=[
                CancelFlowRun(),
                SendNotification(
                    block_document_id=slack,
                    subject="Stuck flow run",
                    body="Flow run {{ flow_run.name }} ({{ flow_run.id }}) was stuck in "
                    "{{ flow_run.state.name }}; it has been cancelled.",
                ),
            ],
        ).acreate(client=client)

        pool = await prefect_objects.create_work_pool()
        flow = await prefect_objects.create_flow()
        deployment = await prefect_objects.create_deployment(flow["id"], pool["name"])
        stuck = await prefect_objects.running_flow_run(deployment["id"])
        healthy = await prefect_objects.running_flow_run(deployment["id"])
        await asyncio.sleep(3)
        await prefect_objects.set_state(healthy["id"], "COMPLETED")

        async def stuck_run_cancelled() -> bool:
            run = await prefect_objects.flow_run(stuck["id"])
            return run["state"]["type"] in {"CANCELLING", "CANCELLED"}

        deadline = asyncio.get_running_loop().time() + 90
        while not await stuck_run_cancelled():
            assert asyncio.get_running_loop().time() < deadline, bridged_stack.logs()
            await asyncio.sleep(0.5)

        requests = await receiver.wait_for(1, timeout=30)
        assert stuck["name"] in requests[0].text
        assert stuck["id"] in requests[0].text

        await asyncio.sleep(20)  # past the healthy run's window: it must be left alone
        assert (await prefect_objects.flow_run(healthy["id"]))["state"]["type"] == "COMPLETED"
        assert all(healthy["id"] not in request.text for request in receiver.requests)
        assert all(healthy["name"] not in request.text for request in receiver.requests)
