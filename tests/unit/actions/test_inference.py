"""Target resolution, selected and inferred, exactly as reference §6.2 says."""

from __future__ import annotations

from typing import Any

import pytest

from automations_actions.inference import infer_flow_run_id, target_id
from automations_actions.kinds.base import ActionFailed

RUN = "11111111-1111-4111-8111-111111111111"
OTHER_RUN = "22222222-2222-4222-8222-222222222222"
DEPLOYMENT = "33333333-3333-4333-8333-333333333333"
OTHER_DEPLOYMENT = "44444444-4444-4444-8444-444444444444"
POOL = "55555555-5555-4555-8555-555555555555"
QUEUE = "66666666-6666-4666-8666-666666666666"
AUTOMATION = "77777777-7777-4777-8777-777777777777"


def event(resource: str, *related: tuple[str, str]) -> dict[str, Any]:
    return {
        "id": "e",
        "event": "x",
        "resource": {"prefect.resource.id": resource},
        "related": [
            {"prefect.resource.id": rid, "prefect.resource.role": role} for rid, role in related
        ],
    }


FLOW_RUN_EVENT = event(
    f"prefect.flow-run.{RUN}",
    (f"prefect.flow.{RUN}", "flow"),
    (f"prefect.deployment.{DEPLOYMENT}", "deployment"),
    (f"prefect.work-queue.{QUEUE}", "work-queue"),
    (f"prefect.work-pool.{POOL}", "work-pool"),
)

KINDS = {
    "deployment": ("deployment_id", "prefect.deployment", "deployment"),
    "work pool": ("work_pool_id", "prefect.work-pool", "work pool"),
    "work queue": ("work_queue_id", "prefect.work-queue", "work queue"),
    "automation": ("automation_id", "prefect.automation", "automation"),
}


def resolve(what: str, action: dict[str, Any], ev: dict[str, Any] | None) -> str:
    id_field, kind, words = KINDS[what]
    return target_id(action, ev, id_field=id_field, kind=kind, what=words)


@pytest.mark.parametrize(
    ("what", "action", "ev", "expected"),
    [
        # Selected: the id field, whatever the event says.
        ("deployment", {"deployment_id": OTHER_DEPLOYMENT}, FLOW_RUN_EVENT, OTHER_DEPLOYMENT),
        ("deployment", {"source": "selected", "deployment_id": DEPLOYMENT}, None, DEPLOYMENT),
        ("work pool", {"work_pool_id": POOL.upper()}, None, POOL),
        # Inferred from a flow-run event: the related resource of that kind, any role.
        ("deployment", {"source": "inferred"}, FLOW_RUN_EVENT, DEPLOYMENT),
        ("work pool", {"source": "inferred"}, FLOW_RUN_EVENT, POOL),
        ("work queue", {"source": "inferred"}, FLOW_RUN_EVENT, QUEUE),
        # Inferred from a deployment event: the primary resource comes first.
        (
            "deployment",
            {"source": "inferred"},
            event(
                f"prefect.deployment.{DEPLOYMENT}",
                (f"prefect.deployment.{OTHER_DEPLOYMENT}", "x"),
            ),
            DEPLOYMENT,
        ),
        (
            "automation",
            {"source": "inferred"},
            event(f"prefect.automation.{AUTOMATION}"),
            AUTOMATION,
        ),
        # The role does not matter.
        (
            "deployment",
            {"source": "inferred"},
            event("acme.thing.1", (f"prefect.deployment.{DEPLOYMENT}", "whatever")),
            DEPLOYMENT,
        ),
    ],
)
def test_resolved(
    what: str, action: dict[str, Any], ev: dict[str, Any] | None, expected: str
) -> None:
    assert resolve(what, action, ev) == expected


@pytest.mark.parametrize(
    ("what", "action", "ev", "reason"),
    [
        ("deployment", {"source": "inferred"}, None, "No event to infer the deployment"),
        ("work pool", {"source": "inferred"}, None, "No event to infer the work pool"),
        ("work queue", {"source": "inferred"}, None, "No event to infer the work queue"),
        ("automation", {"source": "inferred"}, None, "No event to infer the automation"),
        (
            "deployment",
            {"source": "inferred"},
            event(f"prefect.flow-run.{RUN}"),
            "No deployment could be inferred",
        ),
        # The first resource of the kind has no UUID: Prefect stops there.
        (
            "deployment",
            {"source": "inferred"},
            event(
                "prefect.deployment.not-a-uuid",
                (f"prefect.deployment.{DEPLOYMENT}", "deployment"),
            ),
            "No deployment could be inferred",
        ),
        # A longer kind that merely starts the same is another kind.
        (
            "deployment",
            {"source": "inferred"},
            event(f"prefect.deployment.version.{DEPLOYMENT}"),
            "No deployment could be inferred",
        ),
        ("deployment", {"source": "selected"}, FLOW_RUN_EVENT, "deployment_id is required"),
        ("work queue", {}, FLOW_RUN_EVENT, "work_queue_id is required"),
        (
            "deployment",
            {"source": "inferred", "deployment_id": DEPLOYMENT},
            FLOW_RUN_EVENT,
            "deployment_id is not allowed",
        ),
        ("deployment", {"deployment_id": "nope"}, None, "is not a UUID"),
        ("deployment", {"source": "guessed"}, None, "source must be"),
    ],
)
def test_failures(
    what: str, action: dict[str, Any], ev: dict[str, Any] | None, reason: str
) -> None:
    with pytest.raises(ActionFailed, match=reason) as failure:
        resolve(what, action, ev)
    assert not failure.value.transient


@pytest.mark.parametrize(
    ("ev", "labels", "expected"),
    [
        (FLOW_RUN_EVENT, {}, RUN),
        # Triggering labels win: proactive firings bucketed by prefect.resource.id.
        (None, {"prefect.resource.id": f"prefect.flow-run.{OTHER_RUN}"}, OTHER_RUN),
        (FLOW_RUN_EVENT, {"prefect.resource.id": f"prefect.flow-run.{OTHER_RUN}"}, OTHER_RUN),
        # Labels naming something else fall through to the event.
        (FLOW_RUN_EVENT, {"prefect.resource.id": f"prefect.deployment.{DEPLOYMENT}"}, RUN),
        (FLOW_RUN_EVENT, {"prefect.resource.id": "prefect.flow-run.not-a-uuid"}, RUN),
        # A flow run among the related resources (e.g. a task-run event).
        (
            event("prefect.task-run.x", (f"prefect.flow-run.{OTHER_RUN}", "flow-run")),
            None,
            OTHER_RUN,
        ),
    ],
)
def test_flow_run(ev: dict[str, Any] | None, labels: dict[str, str] | None, expected: str) -> None:
    assert infer_flow_run_id(ev, labels) == expected


@pytest.mark.parametrize(
    ("ev", "labels"),
    [
        (None, {}),
        (None, None),
        (event(f"prefect.deployment.{DEPLOYMENT}"), {}),
        (event("prefect.flow-run.not-a-uuid", (f"prefect.flow-run.{RUN}", "x")), {}),
        (None, {"prefect.resource.id": f"prefect.deployment.{DEPLOYMENT}"}),
    ],
)
def test_no_flow_run(ev: dict[str, Any] | None, labels: dict[str, str] | None) -> None:
    with pytest.raises(ActionFailed, match="No flow run could be inferred"):
        infer_flow_run_id(ev, labels)


def test_malformed_events_do_not_crash() -> None:
    broken: dict[str, Any] = {"resource": "nope", "related": [None, 3, {"x": 1}]}
    with pytest.raises(ActionFailed, match="No deployment could be inferred"):
        resolve("deployment", {"source": "inferred"}, broken)
