"""Executors for deployments, flow runs, work pools and work queues (reference §6.1).

Each executor is a small callable built with its dependencies; `orchestration_executors`
returns them keyed by action `type` for the dispatcher. Run-deployment parameters are
hydrated by parameters.py; templates render through a TemplateRenderer (rendering.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from automations_actions.inference import infer_flow_run_id, target_id
from automations_actions.kinds.base import (
    ActionFailed,
    ActionInvocation,
    ActionOutcome,
    Executor,
    TemplateRenderer,
)
from automations_actions.orchestrator import Orchestrator
from automations_actions.parameters import HydrationError, hydrate_parameters, schedule_delay
from automations_common.templating import TemplateProblem

STATE_TYPES = (
    "SCHEDULED",
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "CRASHED",
    "PAUSED",
    "CANCELLING",
)
SUSPEND_TIMEOUT_SECONDS = 3600

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _related(kind: str, object_id: str, role: str, name: str | None = None) -> dict[str, str]:
    labels = {"prefect.resource.id": f"prefect.{kind}.{object_id}", "prefect.resource.role": role}
    if name:
        labels["prefect.resource.name"] = name
    return labels


@dataclass
class _OrchestrationAction:
    """Shared by every executor here: the API client (or why there is none) and a clock."""

    orchestrator: Orchestrator | None
    clock: Clock = field(default=_utcnow)

    def api(self, invocation: ActionInvocation) -> Orchestrator:
        if self.orchestrator is None:
            raise ActionFailed("No orchestration API is configured (set ACTIONS_PREFECT_API_URL)")
        automation = invocation.automation
        return self.orchestrator.for_action(
            invocation.action_type,
            str(automation.get("id") or ""),
            str(automation.get("name") or ""),
        )

    def automation_id(self, invocation: ActionInvocation) -> str:
        return str(invocation.automation.get("id") or "")


@dataclass
class RunDeployment(_OrchestrationAction):
    renderer: TemplateRenderer | None = None

    async def __call__(self, invocation: ActionInvocation) -> ActionOutcome:
        action = invocation.action
        deployment_id = target_id(
            action,
            invocation.triggering_event,
            id_field="deployment_id",
            kind="prefect.deployment",
            what="deployment",
        )
        api = self.api(invocation)
        parameters = await self._parameters(invocation, api)
        job_variables = action.get("job_variables")
        if job_variables is not None and not isinstance(job_variables, Mapping):
            raise ActionFailed("job_variables must be an object")
        scheduled = self.clock() + schedule_delay(action.get("schedule_after"))
        state = {
            "type": "SCHEDULED",
            "name": "Scheduled",
            "state_details": {"scheduled_time": scheduled.isoformat()},
        }
        key = (
            f"automation {self.automation_id(invocation)}, action {invocation.action_index}, "
            f"invocation {invocation.action_id}"
        )
        request = {
            "method": "POST",
            "path": f"deployments/{deployment_id}/create_flow_run",
            "body": {
                "parameters": parameters,
                "job_variables": job_variables,
                "state": state,
                "idempotency_key": key,
            },
        }
        try:
            flow_run = await api.create_flow_run(
                deployment_id,
                parameters=parameters,
                job_variables=job_variables,
                state=state,
                idempotency_key=key,
            )
        except ActionFailed as exc:
            exc.result.setdefault("rendered_request", request)
            raise
        flow_run_id = str(flow_run.get("id") or "")
        return ActionOutcome(
            result={"flow_run_id": flow_run_id, "flow_run_name": flow_run.get("name")},
            resulting_related=[
                _related("deployment", deployment_id, "target"),
                _related("flow-run", flow_run_id, "flow-run", flow_run.get("name")),
            ],
            rendered_request=request,
        )

    async def _parameters(
        self, invocation: ActionInvocation, api: Orchestrator
    ) -> dict[str, Any] | None:
        raw = invocation.action.get("parameters")
        if raw is None:
            return None  # the deployment's defaults
        if not isinstance(raw, Mapping):
            raise ActionFailed(
                "Unable to create flow run from deployment: parameters must be an object"
            )
        renderer = self.renderer

        async def render(sources: Sequence[str]) -> list[str]:
            if renderer is None:
                raise TemplateProblem("templates are not available in this service")
            return await renderer.render_many(invocation, sources)

        try:
            return await hydrate_parameters(raw, render, api.read_variable)
        except TemplateProblem as exc:
            raise ActionFailed(
                f"Unable to create flow run from deployment: Template rendering failed: {exc}",
                {"template_error": str(exc), "template_source": json.dumps(raw)[:1000]},
            ) from None
        except HydrationError as exc:
            raise ActionFailed(f"Unable to create flow run from deployment: {exc}") from None
        except ActionFailed as exc:
            if exc.transient:
                raise
            raise ActionFailed(
                f"Unable to create flow run from deployment: {exc.reason}", exc.result
            ) from None


@dataclass
class DeploymentPause(_OrchestrationAction):
    paused: bool = True

    async def __call__(self, invocation: ActionInvocation) -> ActionOutcome:
        deployment_id = target_id(
            invocation.action,
            invocation.triggering_event,
            id_field="deployment_id",
            kind="prefect.deployment",
            what="deployment",
        )
        api = self.api(invocation)
        if self.paused:
            await api.pause_deployment(deployment_id)
        else:
            await api.resume_deployment(deployment_id)
        return ActionOutcome(
            result={"deployment_id": deployment_id},
            resulting_related=[_related("deployment", deployment_id, "target")],
        )


@dataclass
class WorkPoolPause(_OrchestrationAction):
    paused: bool = True

    async def __call__(self, invocation: ActionInvocation) -> ActionOutcome:
        work_pool_id = target_id(
            invocation.action,
            invocation.triggering_event,
            id_field="work_pool_id",
            kind="prefect.work-pool",
            what="work pool",
        )
        pool = await self.api(invocation).set_work_pool_paused(work_pool_id, self.paused)
        name = str(pool.get("name") or "")
        return ActionOutcome(
            result={"work_pool_id": work_pool_id, "work_pool_name": name},
            resulting_related=[_related("work-pool", work_pool_id, "target", name)],
        )


@dataclass
class WorkQueuePause(_OrchestrationAction):
    paused: bool = True

    async def __call__(self, invocation: ActionInvocation) -> ActionOutcome:
        work_queue_id = target_id(
            invocation.action,
            invocation.triggering_event,
            id_field="work_queue_id",
            kind="prefect.work-queue",
            what="work queue",
        )
        await self.api(invocation).set_work_queue_paused(work_queue_id, self.paused)
        return ActionOutcome(
            result={"work_queue_id": work_queue_id},
            resulting_related=[_related("work-queue", work_queue_id, "target")],
        )


@dataclass
class FlowRunStateChange(_OrchestrationAction):
    """cancel-flow-run, suspend-flow-run and change-flow-run-state: propose a new state."""

    async def __call__(self, invocation: ActionInvocation) -> ActionOutcome:
        flow_run_id = self.flow_run_id(invocation)
        state, force = self.new_state(invocation)
        result = await self.api(invocation).set_flow_run_state(flow_run_id, state, force=force)
        validated = result.get("state") or {}
        return ActionOutcome(
            result={
                "flow_run_id": flow_run_id,
                "state_type": validated.get("type"),
                "state_name": validated.get("name"),
            },
            resulting_related=[_related("flow-run", flow_run_id, "target")],
            rendered_request={"state": state, "force": force},
        )

    def flow_run_id(self, invocation: ActionInvocation) -> str:
        labels = invocation.firing.get("triggering_labels")
        return infer_flow_run_id(
            invocation.triggering_event, labels if isinstance(labels, Mapping) else None
        )

    def new_state(self, invocation: ActionInvocation) -> tuple[dict[str, Any], bool]:
        aid = self.automation_id(invocation)
        kind = invocation.action_type
        if kind == "cancel-flow-run":
            message = f"Cancelled by Automation {aid}"
            return {"type": "CANCELLING", "name": "Cancelling", "message": message}, False
        if kind == "suspend-flow-run":
            timeout = self.clock() + timedelta(seconds=SUSPEND_TIMEOUT_SECONDS)
            # Prefect's Suspended(): a PAUSED state named Suspended that reschedules.
            return {
                "type": "PAUSED",
                "name": "Suspended",
                "message": f"Suspended by Automation {aid}",
                "state_details": {"pause_timeout": timeout.isoformat(), "pause_reschedule": True},
            }, False
        action = invocation.action
        state_type = str(action.get("state") or "").upper()
        if state_type not in STATE_TYPES:
            raise ActionFailed(
                f"state must be one of {', '.join(STATE_TYPES)}, not {action.get('state')!r}"
            )
        return {
            "type": state_type,
            "name": action.get("name") or state_type.title(),
            "message": action.get("message") or f"State changed by Automation {aid}",
        }, bool(action.get("force", False))


@dataclass
class ResumeFlowRun(FlowRunStateChange):
    async def __call__(self, invocation: ActionInvocation) -> ActionOutcome:
        flow_run_id = self.flow_run_id(invocation)
        result = await self.api(invocation).resume_flow_run(flow_run_id)
        validated = result.get("state") or {}
        return ActionOutcome(
            result={"flow_run_id": flow_run_id, "state_type": validated.get("type")},
            resulting_related=[_related("flow-run", flow_run_id, "target")],
        )


@dataclass
class DeleteFlowRun(FlowRunStateChange):
    async def __call__(self, invocation: ActionInvocation) -> ActionOutcome:
        flow_run_id = self.flow_run_id(invocation)
        await self.api(invocation).delete_flow_run(flow_run_id)
        return ActionOutcome(
            result={"flow_run_id": flow_run_id},
            resulting_related=[_related("flow-run", flow_run_id, "target")],
        )


def orchestration_executors(
    orchestrator: Orchestrator | None,
    renderer: TemplateRenderer | None,
    clock: Clock = _utcnow,
) -> dict[str, Executor]:
    """Every orchestration action type, keyed by its JSON `type`."""
    state_change = FlowRunStateChange(orchestrator, clock)
    return {
        "run-deployment": RunDeployment(orchestrator, clock, renderer),
        "pause-deployment": DeploymentPause(orchestrator, clock, paused=True),
        "resume-deployment": DeploymentPause(orchestrator, clock, paused=False),
        "cancel-flow-run": state_change,
        "suspend-flow-run": state_change,
        "change-flow-run-state": state_change,
        "resume-flow-run": ResumeFlowRun(orchestrator, clock),
        "delete-flow-run": DeleteFlowRun(orchestrator, clock),
        "pause-work-pool": WorkPoolPause(orchestrator, clock, paused=True),
        "resume-work-pool": WorkPoolPause(orchestrator, clock, paused=False),
        "pause-work-queue": WorkQueuePause(orchestrator, clock, paused=True),
        "resume-work-queue": WorkQueuePause(orchestrator, clock, paused=False),
    }
