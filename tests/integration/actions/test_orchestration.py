"""Orchestration actions against a real Prefect server: each one changes the real object."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from automations_actions.kinds.base import (
    ActionFailed,
    ActionInvocation,
    Executor,
    TransientFailure,
)
from automations_actions.kinds.orchestration import orchestration_executors
from automations_actions.orchestrator import Orchestrator, OrchestratorConfig
from automations_actions.rendering import ContextRenderer
from automations_common.devstack import free_port
from tests.support.prefect_server import PrefectObjects

AUTOMATION = {"id": str(uuid.uuid4()), "name": "When runs misbehave", "enabled": True}


@dataclass
class World:
    """A work pool with a queue, a flow, a deployment and a running flow run."""

    pool: dict[str, Any]
    queue: dict[str, Any]
    flow: dict[str, Any]
    deployment: dict[str, Any]
    run: dict[str, Any]

    def event(self, name: str = "prefect.flow-run.Running") -> dict[str, Any]:
        """A flow-run event shaped like the ones Prefect emits (reference §1.3)."""
        return {
            "id": str(uuid.uuid4()),
            "occurred": datetime.now(UTC).isoformat(),
            "event": name,
            "resource": {
                "prefect.resource.id": f"prefect.flow-run.{self.run['id']}",
                "prefect.resource.name": self.run["name"],
                "prefect.state-type": "RUNNING",
                "prefect.state-name": "Running",
                "prefect.state-message": "",
                "prefect.run-count": "1",
            },
            "related": [
                {
                    "prefect.resource.id": f"prefect.flow.{self.flow['id']}",
                    "prefect.resource.role": "flow",
                    "prefect.resource.name": self.flow["name"],
                },
                {
                    "prefect.resource.id": f"prefect.deployment.{self.deployment['id']}",
                    "prefect.resource.role": "deployment",
                    "prefect.resource.name": self.deployment["name"],
                },
                {
                    "prefect.resource.id": f"prefect.work-queue.{self.queue['id']}",
                    "prefect.resource.role": "work-queue",
                    "prefect.resource.name": self.queue["name"],
                },
                {
                    "prefect.resource.id": f"prefect.work-pool.{self.pool['id']}",
                    "prefect.resource.role": "work-pool",
                    "prefect.resource.name": self.pool["name"],
                    "prefect.work-pool.type": "process",
                },
                {"prefect.resource.id": "prefect.tag.nightly", "prefect.resource.role": "tag"},
            ],
            "payload": {"count": 3, "intended": {"from": "PENDING", "to": "RUNNING"}},
        }


def invocation(
    action: Mapping[str, Any],
    event: Mapping[str, Any] | None,
    labels: Mapping[str, str] | None = None,
    action_id: str | None = None,
) -> ActionInvocation:
    return ActionInvocation(
        action_id=action_id or str(uuid.uuid4()),
        action_index=0,
        action_type=str(action["type"]),
        action=dict(action),
        automation=AUTOMATION,
        firing={"id": str(uuid.uuid4()), "triggering_labels": dict(labels or {})},
        triggering_event=dict(event) if event is not None else None,
        triggered_time=datetime.now(UTC),
    )


@pytest.fixture
async def prefect(prefect_api_url: str) -> AsyncIterator[PrefectObjects]:
    objects = PrefectObjects(prefect_api_url)
    yield objects
    await objects.aclose()


@pytest.fixture
async def orchestrator(prefect_api_url: str) -> AsyncIterator[Orchestrator]:
    client = Orchestrator(OrchestratorConfig(api_url=prefect_api_url))
    yield client
    await client.aclose()


@pytest.fixture
def executors(orchestrator: Orchestrator) -> dict[str, Executor]:
    return orchestration_executors(orchestrator, ContextRenderer(orchestrator))


@pytest.fixture
async def world(prefect: PrefectObjects) -> World:
    pool = await prefect.create_work_pool()
    queue = await prefect.create_work_queue(pool["name"])
    flow = await prefect.create_flow()
    deployment = await prefect.create_deployment(
        flow["id"], pool["name"], queue["name"], parameters={"greeting": "hi"}
    )
    run = await prefect.running_flow_run(deployment["id"])
    return World(pool, queue, flow, deployment, run)


# -- flow runs -------------------------------------------------------------------------------


async def test_cancel_flow_run_inferred_from_the_event(
    executors: dict[str, Executor], world: World, prefect: PrefectObjects
) -> None:
    outcome = await executors["cancel-flow-run"](
        invocation({"type": "cancel-flow-run"}, world.event())
    )

    run = await prefect.flow_run(world.run["id"])
    assert run["state"]["type"] in ("CANCELLING", "CANCELLED")
    assert run["state"]["message"] == f"Cancelled by Automation {AUTOMATION['id']}"
    assert outcome.resulting_related == [
        {
            "prefect.resource.id": f"prefect.flow-run.{world.run['id']}",
            "prefect.resource.role": "target",
        }
    ]


async def test_cancel_flow_run_from_triggering_labels_without_an_event(
    executors: dict[str, Executor], world: World, prefect: PrefectObjects
) -> None:
    labels = {"prefect.resource.id": f"prefect.flow-run.{world.run['id']}"}

    await executors["cancel-flow-run"](invocation({"type": "cancel-flow-run"}, None, labels))

    run = await prefect.flow_run(world.run["id"])
    assert run["state"]["type"] in ("CANCELLING", "CANCELLED")


async def test_suspend_then_resume_flow_run(
    executors: dict[str, Executor], world: World, prefect: PrefectObjects
) -> None:
    event = world.event()

    await executors["suspend-flow-run"](invocation({"type": "suspend-flow-run"}, event))
    suspended = await prefect.flow_run(world.run["id"])
    assert (suspended["state"]["type"], suspended["state"]["name"]) == ("PAUSED", "Suspended")
    assert suspended["state"]["state_details"]["pause_reschedule"] is True
    assert suspended["state"]["state_details"]["pause_timeout"]

    await executors["resume-flow-run"](invocation({"type": "resume-flow-run"}, event))
    resumed = await prefect.flow_run(world.run["id"])
    assert resumed["state"]["type"] != "PAUSED"


async def test_resume_flow_run_that_is_not_paused_fails_with_the_reason(
    executors: dict[str, Executor], world: World
) -> None:
    with pytest.raises(ActionFailed, match="Failed to set state: Cannot resume"):
        await executors["resume-flow-run"](invocation({"type": "resume-flow-run"}, world.event()))


async def test_change_flow_run_state_with_name_message_and_force(
    executors: dict[str, Executor], world: World, prefect: PrefectObjects
) -> None:
    action = {
        "type": "change-flow-run-state",
        "state": "FAILED",
        "name": "Stuck",
        "message": "Running for too long",
        "force": True,
    }

    outcome = await executors["change-flow-run-state"](invocation(action, world.event()))

    run = await prefect.flow_run(world.run["id"])
    assert run["state"]["type"] == "FAILED"
    assert run["state"]["name"] == "Stuck"
    assert run["state"]["message"] == "Running for too long"
    assert outcome.result["state_type"] == "FAILED"


async def test_change_flow_run_state_default_message(
    executors: dict[str, Executor], world: World, prefect: PrefectObjects
) -> None:
    action = {"type": "change-flow-run-state", "state": "COMPLETED"}

    await executors["change-flow-run-state"](invocation(action, world.event()))

    run = await prefect.flow_run(world.run["id"])
    assert run["state"]["type"] == "COMPLETED"
    assert run["state"]["message"] == f"State changed by Automation {AUTOMATION['id']}"


async def test_delete_flow_run(
    executors: dict[str, Executor], world: World, prefect: PrefectObjects
) -> None:
    await executors["delete-flow-run"](invocation({"type": "delete-flow-run"}, world.event()))

    assert await prefect.flow_run_status(world.run["id"]) == 404


async def test_deleted_flow_run_is_a_clear_failure(
    executors: dict[str, Executor], world: World
) -> None:
    event = world.event()
    await executors["delete-flow-run"](invocation({"type": "delete-flow-run"}, event))

    with pytest.raises(ActionFailed, match=f"Flow run {world.run['id']} not found") as failure:
        await executors["cancel-flow-run"](invocation({"type": "cancel-flow-run"}, event))
    assert not failure.value.transient


async def test_flow_run_action_without_a_flow_run_fails(
    executors: dict[str, Executor], world: World
) -> None:
    event = world.event()
    event["resource"] = {"prefect.resource.id": "acme.sensor.7"}

    with pytest.raises(ActionFailed, match="No flow run could be inferred"):
        await executors["cancel-flow-run"](invocation({"type": "cancel-flow-run"}, event))


# -- deployments -----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["selected", "inferred"])
async def test_pause_and_resume_deployment(
    executors: dict[str, Executor], world: World, prefect: PrefectObjects, source: str
) -> None:
    action: dict[str, Any] = {"type": "pause-deployment", "source": source}
    if source == "selected":
        action["deployment_id"] = world.deployment["id"]

    outcome = await executors["pause-deployment"](invocation(action, world.event()))
    assert (await prefect.deployment(world.deployment["id"]))["paused"] is True
    assert outcome.resulting_related[0]["prefect.resource.id"] == (
        f"prefect.deployment.{world.deployment['id']}"
    )

    await executors["resume-deployment"](
        invocation({**action, "type": "resume-deployment"}, world.event())
    )
    assert (await prefect.deployment(world.deployment["id"]))["paused"] is False


async def test_unknown_deployment_is_a_clear_failure(executors: dict[str, Executor]) -> None:
    missing = str(uuid.uuid4())
    action = {"type": "pause-deployment", "source": "selected", "deployment_id": missing}

    with pytest.raises(ActionFailed, match=f"Deployment {missing} not found") as failure:
        await executors["pause-deployment"](invocation(action, None))
    assert failure.value.result["status_code"] == 404
    assert not failure.value.transient


async def test_inferred_deployment_without_an_event_fails(executors: dict[str, Executor]) -> None:
    action = {"type": "pause-deployment", "source": "inferred"}

    with pytest.raises(ActionFailed, match="No event to infer the deployment"):
        await executors["pause-deployment"](invocation(action, None))


async def test_inferred_deployment_missing_from_the_event_fails(
    executors: dict[str, Executor], world: World
) -> None:
    event = world.event()
    event["related"] = [r for r in event["related"] if r["prefect.resource.role"] != "deployment"]

    with pytest.raises(ActionFailed, match="No deployment could be inferred"):
        await executors["pause-deployment"](
            invocation({"type": "pause-deployment", "source": "inferred"}, event)
        )


# -- run-deployment --------------------------------------------------------------------------


async def test_run_deployment_passes_the_event_as_an_object(
    executors: dict[str, Executor], world: World, prefect: PrefectObjects
) -> None:
    event = world.event()
    action = {
        "type": "run-deployment",
        "source": "selected",
        "deployment_id": world.deployment["id"],
        "parameters": {
            "event": "{{ event }}",
            "count": "{{ event.payload.count }}",
            "title": "Run for {{ event.resource.id }}",
            "nested": {"run_name": "{{ flow_run.name }}", "flow": "{{ flow.name }}"},
            "explicit": {"__prefect_kind": "jinja", "template": "{{ event.payload.count }}"},
            "plain": 7,
        },
        "job_variables": {"env": {"X": "{{ not templated }}"}},
    }

    outcome = await executors["run-deployment"](invocation(action, event))

    run = await prefect.flow_run(outcome.result["flow_run_id"])
    parameters = run["parameters"]
    assert parameters["event"] == event
    assert parameters["count"] == 3
    assert parameters["title"] == f"Run for prefect.flow-run.{world.run['id']}"
    assert parameters["nested"] == {"run_name": world.run["name"], "flow": world.flow["name"]}
    assert parameters["explicit"] == "3"
    assert parameters["plain"] == 7
    assert run["job_variables"] == {"env": {"X": "{{ not templated }}"}}
    assert run["deployment_id"] == world.deployment["id"]
    assert run["state"]["type"] == "SCHEDULED"
    assert run["created_by"]["type"] == "AUTOMATION"
    assert run["created_by"]["id"] == AUTOMATION["id"]
    assert run["idempotency_key"].startswith(f"automation {AUTOMATION['id']}, action 0, invocation")
    assert outcome.resulting_related == [
        {
            "prefect.resource.id": f"prefect.deployment.{world.deployment['id']}",
            "prefect.resource.role": "target",
        },
        {
            "prefect.resource.id": f"prefect.flow-run.{run['id']}",
            "prefect.resource.role": "flow-run",
            "prefect.resource.name": run["name"],
        },
    ]


async def test_run_deployment_inferred_and_idempotent(
    executors: dict[str, Executor], world: World, prefect: PrefectObjects
) -> None:
    action = {"type": "run-deployment", "source": "inferred", "schedule_after": 3600}
    action_id = str(uuid.uuid4())

    first = await executors["run-deployment"](invocation(action, world.event(), None, action_id))
    again = await executors["run-deployment"](invocation(action, world.event(), None, action_id))

    assert first.result["flow_run_id"] == again.result["flow_run_id"]
    run = await prefect.flow_run(first.result["flow_run_id"])
    # No parameters given: the deployment's defaults.
    assert run["parameters"] == {"greeting": "hi"}
    scheduled = datetime.fromisoformat(run["state"]["state_details"]["scheduled_time"])
    assert (scheduled - datetime.now(UTC)).total_seconds() > 3000
    runs = await prefect.flow_runs_of(world.deployment["id"])
    assert len(runs) == 2  # the running one from the fixture and this one


async def test_run_deployment_template_error_fails_with_details(
    executors: dict[str, Executor], world: World
) -> None:
    action = {
        "type": "run-deployment",
        "deployment_id": world.deployment["id"],
        "parameters": {"x": "{{ ''.__class__.__mro__ }} and {{ 'x' * 10**9 }}"},
    }

    with pytest.raises(ActionFailed, match="Unable to create flow run from deployment") as failure:
        await executors["run-deployment"](invocation(action, world.event()))
    assert failure.value.result["template_error"]


async def test_run_deployment_refused_by_the_parameter_schema(
    executors: dict[str, Executor], world: World, prefect: PrefectObjects
) -> None:
    schema = {
        "type": "object",
        "properties": {"count": {"type": "integer"}},
        "required": ["count"],
    }
    strict = await prefect.create_deployment(
        world.flow["id"], world.pool["name"], parameter_schema=schema
    )
    action = {
        "type": "run-deployment",
        "deployment_id": strict["id"],
        "parameters": {"count": "{{ event.event }}"},
    }

    with pytest.raises(
        ActionFailed, match="Validation error occurred for 'run-deployment' - "
    ) as failure:
        await executors["run-deployment"](invocation(action, world.event()))
    assert failure.value.result["status_code"] in (409, 422)
    assert failure.value.result["validation_error"]
    assert not failure.value.transient
    assert await prefect.flow_runs_of(strict["id"]) == []


async def test_run_deployment_unknown_deployment(executors: dict[str, Executor]) -> None:
    missing = str(uuid.uuid4())
    action = {"type": "run-deployment", "deployment_id": missing, "parameters": {}}

    with pytest.raises(ActionFailed, match=f"Deployment {missing} not found"):
        await executors["run-deployment"](invocation(action, None))


# -- work pools and work queues ------------------------------------------------------------


@pytest.mark.parametrize("source", ["selected", "inferred"])
async def test_pause_and_resume_work_pool(
    executors: dict[str, Executor], world: World, prefect: PrefectObjects, source: str
) -> None:
    action: dict[str, Any] = {"type": "pause-work-pool", "source": source}
    if source == "selected":
        action["work_pool_id"] = world.pool["id"]

    outcome = await executors["pause-work-pool"](invocation(action, world.event()))
    assert (await prefect.work_pool(world.pool["name"]))["is_paused"] is True
    assert outcome.resulting_related == [
        {
            "prefect.resource.id": f"prefect.work-pool.{world.pool['id']}",
            "prefect.resource.role": "target",
            "prefect.resource.name": world.pool["name"],
        }
    ]

    await executors["resume-work-pool"](
        invocation({**action, "type": "resume-work-pool"}, world.event())
    )
    assert (await prefect.work_pool(world.pool["name"]))["is_paused"] is False


async def test_unknown_work_pool_is_a_clear_failure(executors: dict[str, Executor]) -> None:
    missing = str(uuid.uuid4())
    action = {"type": "pause-work-pool", "work_pool_id": missing}

    with pytest.raises(ActionFailed, match=f"Work pool {missing} not found"):
        await executors["pause-work-pool"](invocation(action, None))


@pytest.mark.parametrize("source", ["selected", "inferred"])
async def test_pause_and_resume_work_queue(
    executors: dict[str, Executor], world: World, prefect: PrefectObjects, source: str
) -> None:
    action: dict[str, Any] = {"type": "pause-work-queue", "source": source}
    if source == "selected":
        action["work_queue_id"] = world.queue["id"]

    await executors["pause-work-queue"](invocation(action, world.event()))
    assert (await prefect.work_queue(world.queue["id"]))["is_paused"] is True

    await executors["resume-work-queue"](
        invocation({**action, "type": "resume-work-queue"}, world.event())
    )
    assert (await prefect.work_queue(world.queue["id"]))["is_paused"] is False


async def test_unknown_work_queue_is_a_clear_failure(executors: dict[str, Executor]) -> None:
    missing = str(uuid.uuid4())
    action = {"type": "pause-work-queue", "work_queue_id": missing}

    with pytest.raises(ActionFailed, match=f"Work queue {missing} not found"):
        await executors["pause-work-queue"](invocation(action, None))


# -- the API itself ---------------------------------------------------------------------------


async def test_objects_load_for_templates(orchestrator: Orchestrator, world: World) -> None:
    queue = await orchestrator.load("work-queue", world.queue["id"])
    pool = await orchestrator.load("work-pool", world.pool["id"])

    assert queue is not None
    assert queue["name"] == world.queue["name"]
    assert "healthy" in queue  # merged with the queue's status
    assert pool is not None
    assert pool["name"] == world.pool["name"]
    assert await orchestrator.load("deployment", str(uuid.uuid4())) is None


async def test_unreachable_api_is_transient() -> None:
    dead = Orchestrator(OrchestratorConfig(api_url=f"http://127.0.0.1:{free_port()}/api"))
    executors = orchestration_executors(dead, None)
    action = {"type": "pause-deployment", "deployment_id": str(uuid.uuid4())}
    try:
        with pytest.raises(TransientFailure, match="could not be reached"):
            await executors["pause-deployment"](invocation(action, None))
    finally:
        await dead.aclose()


async def test_no_api_configured_fails_clearly() -> None:
    executors = orchestration_executors(None, None)
    action = {"type": "pause-deployment", "deployment_id": str(uuid.uuid4())}

    with pytest.raises(ActionFailed, match="No orchestration API is configured"):
        await executors["pause-deployment"](invocation(action, None))
