"""pause-automation / resume-automation over real gRPC to an AutomationService.

The service here is a small in-test AutomationService on the shared GrpcServer (real
gRPC on loopback, the real error interceptor), standing in for the triggers service so
these tests do not depend on its storage.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from automations.v1 import automation_pb2, automation_service_pb2, automation_service_pb2_grpc
from automations_actions.kinds.automation import AutomationControl, automation_executors
from automations_actions.kinds.base import ActionFailed, ActionInvocation, TransientFailure
from automations_common.devstack import free_port
from automations_common.errors import NotFound
from automations_common.grpc_server import GrpcServer


class Automations(automation_service_pb2_grpc.AutomationServiceServicer):
    def __init__(self) -> None:
        self.enabled: dict[str, bool] = {}

    def _set(self, automation_id: str, enabled: bool) -> automation_pb2.Automation:
        if automation_id not in self.enabled:
            raise NotFound("automation", automation_id)
        self.enabled[automation_id] = enabled
        return automation_pb2.Automation(id=automation_id, name="nightly", enabled=enabled)

    async def PauseAutomation(self, request: Any, context: Any) -> Any:  # noqa: N802
        return automation_service_pb2.PauseAutomationResponse(
            automation=self._set(request.id, False)
        )

    async def ResumeAutomation(self, request: Any, context: Any) -> Any:  # noqa: N802
        return automation_service_pb2.ResumeAutomationResponse(
            automation=self._set(request.id, True)
        )


@pytest.fixture
async def service() -> AsyncIterator[tuple[Automations, str]]:
    servicer = Automations()  # type: ignore[abstract]
    server = GrpcServer(
        "127.0.0.1",
        0,
        [
            lambda s: automation_service_pb2_grpc.add_AutomationServiceServicer_to_server(
                servicer, s
            )
        ],
        ["automations.v1.AutomationService"],
    )
    await server.start()
    await server.set_serving(True)
    yield servicer, server.address
    await server.stop(0)


def invocation(action: dict[str, Any], event: dict[str, Any] | None) -> ActionInvocation:
    return ActionInvocation(
        action_id=str(uuid.uuid4()),
        action_index=1,
        action_type=action["type"],
        action=action,
        automation={"id": str(uuid.uuid4()), "name": "watcher"},
        firing={"id": str(uuid.uuid4()), "triggering_labels": {}},
        triggering_event=event,
        triggered_time=datetime.now(UTC),
    )


def automation_event(automation_id: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": "prefect.automation.triggered",
        "resource": {
            "prefect.resource.id": f"prefect.automation.{automation_id}",
            "prefect.resource.name": "nightly",
        },
        "related": [],
        "payload": {},
    }


@pytest.mark.parametrize("source", ["selected", "inferred"])
async def test_pause_and_resume_automation(service: tuple[Automations, str], source: str) -> None:
    servicer, address = service
    target = str(uuid.uuid4())
    servicer.enabled[target] = True
    control = AutomationControl(address)
    executors = automation_executors(control)
    action: dict[str, Any] = {"type": "pause-automation", "source": source}
    if source == "selected":
        action["automation_id"] = target
    try:
        outcome = await executors["pause-automation"](invocation(action, automation_event(target)))
        assert servicer.enabled[target] is False
        assert outcome.resulting_related == [
            {
                "prefect.resource.id": f"prefect.automation.{target}",
                "prefect.resource.role": "target",
                "prefect.resource.name": "nightly",
            }
        ]

        resume = {**action, "type": "resume-automation"}
        await executors["resume-automation"](invocation(resume, automation_event(target)))
        assert servicer.enabled[target] is True
    finally:
        await control.aclose()


async def test_unknown_automation_is_a_clear_failure(service: tuple[Automations, str]) -> None:
    _, address = service
    control = AutomationControl(address)
    missing = str(uuid.uuid4())
    action = {"type": "pause-automation", "source": "selected", "automation_id": missing}
    try:
        with pytest.raises(ActionFailed, match=f"Automation {missing} not found") as failure:
            await automation_executors(control)["pause-automation"](invocation(action, None))
        assert not failure.value.transient
    finally:
        await control.aclose()


async def test_unreachable_automation_service_is_transient() -> None:
    control = AutomationControl(f"127.0.0.1:{free_port()}", timeout_seconds=1.0)
    action = {"type": "pause-automation", "automation_id": str(uuid.uuid4())}
    try:
        with pytest.raises(TransientFailure):
            await automation_executors(control)["pause-automation"](invocation(action, None))
    finally:
        await control.aclose()


async def test_an_automation_service_with_api_keys_needs_the_key() -> None:
    servicer = Automations()  # type: ignore[abstract]
    server = GrpcServer(
        "127.0.0.1",
        0,
        [
            lambda s: automation_service_pb2_grpc.add_AutomationServiceServicer_to_server(
                servicer, s
            )
        ],
        ["automations.v1.AutomationService"],
        api_keys=["old-key", "new-key"],
    )
    await server.start()
    await server.set_serving(True)
    target = str(uuid.uuid4())
    servicer.enabled[target] = True
    action = {"type": "pause-automation", "source": "selected", "automation_id": target}
    keyed = AutomationControl(server.address, api_key="new-key")
    keyless = AutomationControl(server.address)
    try:
        with pytest.raises(ActionFailed, match=r"UNAUTHENTICATED.*authorization: Bearer") as failed:
            await automation_executors(keyless)["pause-automation"](invocation(action, None))
        assert not failed.value.transient  # retrying cannot help: the setting must change
        assert servicer.enabled[target] is True

        await automation_executors(keyed)["pause-automation"](invocation(action, None))
        assert servicer.enabled[target] is False
    finally:
        await keyed.aclose()
        await keyless.aclose()
        await server.stop(0)
