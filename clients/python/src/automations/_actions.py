"""Action models, one class per Prefect action `type`, with the selected/inferred target rule."""

from __future__ import annotations

import json
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from automations._models import Model, Seconds


class StateType(StrEnum):
    """Prefect's flow-run state types."""

    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


class Action(Model):
    """Base of every action; `type` names the case in JSON."""

    type: str

    def describe(self) -> str:
        """One line for people (the CLI)."""
        return self.type


class _TargetedAction(Action):
    """An action whose target is named (`selected`) or taken from the event (`inferred`)."""

    _target_field: ClassVar[str]

    source: Literal["selected", "inferred"] = "selected"

    @model_validator(mode="after")
    def _source_rule(self) -> _TargetedAction:
        target = getattr(self, self._target_field)
        if self.source == "selected" and target is None:
            raise ValueError(f"{self._target_field} is required")
        if self.source == "inferred" and target is not None:
            raise ValueError(f"{self._target_field} is not allowed")
        return self

    def describe(self) -> str:
        target = getattr(self, self._target_field)
        return f"{self.type} ({self.source}{f' {target}' if target else ''})"


class _DeploymentAction(_TargetedAction):
    _target_field: ClassVar[str] = "deployment_id"
    deployment_id: UUID | None = None


class _WorkQueueAction(_TargetedAction):
    _target_field: ClassVar[str] = "work_queue_id"
    work_queue_id: UUID | None = None


class _WorkPoolAction(_TargetedAction):
    _target_field: ClassVar[str] = "work_pool_id"
    work_pool_id: UUID | None = None


class _AutomationAction(_TargetedAction):
    _target_field: ClassVar[str] = "automation_id"
    automation_id: UUID | None = None


class DoNothing(Action):
    """Do nothing when an automation is triggered (useful for testing)."""

    type: Literal["do-nothing"] = "do-nothing"


class RunDeployment(_DeploymentAction):
    """Runs a deployment; string parameters are Jinja templates."""

    type: Literal["run-deployment"] = "run-deployment"
    parameters: dict[str, Any] | None = None
    job_variables: dict[str, Any] | None = None
    schedule_after: Seconds = Field(default=timedelta(0), ge=timedelta(0))


class PauseDeployment(_DeploymentAction):
    """Pauses a deployment."""

    type: Literal["pause-deployment"] = "pause-deployment"


class ResumeDeployment(_DeploymentAction):
    """Resumes a deployment."""

    type: Literal["resume-deployment"] = "resume-deployment"


class CancelFlowRun(Action):
    """Cancels the flow run of the triggering event."""

    type: Literal["cancel-flow-run"] = "cancel-flow-run"


class SuspendFlowRun(Action):
    """Suspends the flow run of the triggering event."""

    type: Literal["suspend-flow-run"] = "suspend-flow-run"


class ResumeFlowRun(Action):
    """Resumes the flow run of the triggering event."""

    type: Literal["resume-flow-run"] = "resume-flow-run"


class DeleteFlowRun(Action):
    """Deletes the flow run of the triggering event."""

    type: Literal["delete-flow-run"] = "delete-flow-run"


class ChangeFlowRunState(Action):
    """Sets the state of the flow run of the triggering event."""

    type: Literal["change-flow-run-state"] = "change-flow-run-state"
    name: str | None = None
    state: StateType
    message: str | None = None
    force: bool = False


class PauseWorkQueue(_WorkQueueAction):
    """Pauses a work queue."""

    type: Literal["pause-work-queue"] = "pause-work-queue"


class ResumeWorkQueue(_WorkQueueAction):
    """Resumes a work queue."""

    type: Literal["resume-work-queue"] = "resume-work-queue"


class PauseWorkPool(_WorkPoolAction):
    """Pauses a work pool."""

    type: Literal["pause-work-pool"] = "pause-work-pool"


class ResumeWorkPool(_WorkPoolAction):
    """Resumes a work pool."""

    type: Literal["resume-work-pool"] = "resume-work-pool"


class PauseAutomation(_AutomationAction):
    """Pauses (disables) an automation."""

    type: Literal["pause-automation"] = "pause-automation"


class ResumeAutomation(_AutomationAction):
    """Resumes (enables) an automation."""

    type: Literal["resume-automation"] = "resume-automation"


class SendNotification(Action):
    """Sends a notification through a block; subject and body are templates."""

    type: Literal["send-notification"] = "send-notification"
    block_document_id: UUID
    subject: str = "Prefect automated notification"
    body: str

    def describe(self) -> str:
        return f"{self.type} (block {self.block_document_id})"


class CallWebhook(Action):
    """Calls a webhook block with a templated payload sent as the raw body."""

    type: Literal["call-webhook"] = "call-webhook"
    block_document_id: UUID
    payload: str = ""

    @field_validator("payload", mode="before")
    @classmethod
    def _legacy_dict_payload(cls, value: Any) -> Any:
        """Old Prefect documents carry the payload as a JSON object: keep it as its text."""
        return json.dumps(value) if isinstance(value, dict) else value

    def describe(self) -> str:
        return f"{self.type} (block {self.block_document_id})"


ActionTypes = Annotated[
    DoNothing
    | RunDeployment
    | PauseDeployment
    | ResumeDeployment
    | CancelFlowRun
    | SuspendFlowRun
    | ResumeFlowRun
    | ChangeFlowRunState
    | DeleteFlowRun
    | PauseWorkQueue
    | ResumeWorkQueue
    | PauseWorkPool
    | ResumeWorkPool
    | PauseAutomation
    | ResumeAutomation
    | SendNotification
    | CallWebhook,
    Field(discriminator="type"),
]
"""Any action, chosen by its `type`."""
