"""pause-automation / resume-automation through the triggers service's AutomationService.

The one place the actions service calls another service's public API (DESIGN §2); gRPC
status codes become action outcomes here: NOT_FOUND and INVALID_ARGUMENT fail the action,
UNAVAILABLE / DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED are retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from automations.v1 import automation_service_pb2, automation_service_pb2_grpc
from automations_actions.inference import target_id
from automations_actions.kinds.base import (
    ActionFailed,
    ActionInvocation,
    ActionOutcome,
    Executor,
    TransientFailure,
)

_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
}


class AutomationControl:
    """A channel to AutomationService; `aclose()` when the service stops."""

    def __init__(self, address: str, *, timeout_seconds: float = 10.0, api_key: str = "") -> None:
        self.address = address
        self._timeout = timeout_seconds
        self._metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
        # Opened on first use, inside the event loop that will use it.
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None

    def _service(self) -> Any:
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self.address)
            self._stub = automation_service_pb2_grpc.AutomationServiceStub(self._channel)
        return self._stub

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = self._stub = None

    async def set_enabled(self, automation_id: str, enabled: bool, action_type: str) -> str:
        """Pause or resume; returns the automation's name."""
        try:
            if enabled:
                resumed = await self._service().ResumeAutomation(
                    automation_service_pb2.ResumeAutomationRequest(id=automation_id),
                    timeout=self._timeout,
                    metadata=self._metadata,
                )
                return str(resumed.automation.name)
            paused = await self._service().PauseAutomation(
                automation_service_pb2.PauseAutomationRequest(id=automation_id),
                timeout=self._timeout,
                metadata=self._metadata,
            )
            return str(paused.automation.name)
        except grpc.aio.AioRpcError as exc:
            code, details = exc.code(), exc.details() or ""
            if code == grpc.StatusCode.NOT_FOUND:
                raise ActionFailed(f"Automation {automation_id} not found") from None
            if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
                raise ActionFailed(
                    f"Validation error occurred for '{action_type}' - {details}",
                    {"validation_error": details},
                ) from None
            reason = f"AutomationService answered {code.name}: {details}"
            if code in _TRANSIENT:
                raise TransientFailure(reason) from None
            raise ActionFailed(reason) from None


@dataclass
class AutomationPause:
    control: AutomationControl
    enabled: bool = False

    async def __call__(self, invocation: ActionInvocation) -> ActionOutcome:
        automation_id = target_id(
            invocation.action,
            invocation.triggering_event,
            id_field="automation_id",
            kind="prefect.automation",
            what="automation",
        )
        name = await self.control.set_enabled(automation_id, self.enabled, invocation.action_type)
        related = {
            "prefect.resource.id": f"prefect.automation.{automation_id}",
            "prefect.resource.role": "target",
        }
        if name:
            related["prefect.resource.name"] = name
        return ActionOutcome(result={"automation_id": automation_id}, resulting_related=[related])


def automation_executors(control: AutomationControl) -> dict[str, Executor]:
    return {
        "pause-automation": AutomationPause(control, enabled=False),
        "resume-automation": AutomationPause(control, enabled=True),
    }
