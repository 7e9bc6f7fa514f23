"""Validation rules of automations, one case per rule (issue 2, reference §3.1, §4.1, §5, §6)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from automations_common.errors import InvalidArgument
from automations_triggers.documents import AutomationDocument
from automations_triggers.validation import check_template, validate_automation

DEPLOYMENT = "0b1f5c3e-8a55-4a3c-9a55-2f4f0c3d9e10"
BLOCK = "7d3c1e2a-1111-4a3c-9a55-2f4f0c3d9e10"


def event_trigger(**fields: Any) -> dict[str, Any]:
    trigger: dict[str, Any] = {
        "type": "event",
        "id": "",
        "match": {"prefect.resource.id": ["demo.*"]},
        "match_related": [],
        "after": [],
        "expect": ["demo.ping"],
        "for_each": [],
        "posture": "Reactive",
        "threshold": 1,
        "within": 0.0,
    }
    trigger.update(fields)
    return trigger


def automation(trigger: dict[str, Any] | None = None, **fields: Any) -> AutomationDocument:
    doc = AutomationDocument(
        name="demo",
        trigger=event_trigger() if trigger is None else trigger,
        actions=[{"type": "do-nothing"}],
    )
    for key, value in fields.items():
        setattr(doc, key, value)
    return doc


def woodchonk() -> AutomationDocument:
    return AutomationDocument(
        name="woodchonk",
        trigger=event_trigger(
            expect=["animal.walked"],
            match={"genus": ["Marmota"], "species": ["monax"]},
            threshold=3,
            within=10.0,
        ),
        actions=[{"type": "cancel-flow-run"}],
    )


def violations(doc: AutomationDocument, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        validate_automation(doc, **kwargs)
    return {v.field: v.description for v in caught.value.violations}


def compound(children: list[dict[str, Any]], require: Any = "all", **fields: Any) -> dict[str, Any]:
    return {
        "type": "compound",
        "id": "",
        "triggers": children,
        "within": None,
        "require": require,
        **fields,
    }


def metric(**query: Any) -> dict[str, Any]:
    base = {
        "name": "duration",
        "threshold": 60.0,
        "operator": ">",
        "range": 300.0,
        "firing_for": 300.0,
    }
    base.update(query)
    return {
        "type": "metric",
        "id": "",
        "posture": "Metric",
        "match": {},
        "match_related": [],
        "metric": base,
    }


def run_deployment(**fields: Any) -> dict[str, Any]:
    action = {
        "type": "run-deployment",
        "source": "selected",
        "deployment_id": DEPLOYMENT,
        "parameters": None,
        "job_variables": None,
        "schedule_after": 0.0,
    }
    action.update(fields)
    return action


VALID: list[tuple[str, AutomationDocument, dict[str, Any]]] = [
    ("woodchonk from the seed", woodchonk(), {}),
    ("reactive within 0", automation(), {}),
    (
        "proactive within exactly 10 s",
        automation(event_trigger(posture="Proactive", within=10.0)),
        {},
    ),
    ("compound require 2 of 2", automation(compound([event_trigger(), event_trigger()], 2)), {}),
    ("compound require any", automation(compound([event_trigger()], "any")), {}),
    (
        "sequence",
        automation({"type": "sequence", "id": "", "triggers": [event_trigger()], "within": 60.0}),
        {},
    ),
    ("metric at the minimums", automation(metric()), {}),
    (
        "match-all when allowed",
        automation(event_trigger(expect=[], match={})),
        {"allow_match_all": True},
    ),
    (
        "only match_related filters",
        automation(
            event_trigger(expect=[], match={}, match_related=[{"prefect.resource.role": ["flow"]}])
        ),
        {},
    ),
    (
        "inferred deployment without id",
        automation(
            actions=[{"type": "pause-deployment", "source": "inferred", "deployment_id": None}]
        ),
        {},
    ),
    (
        "webhook with a template",
        automation(
            actions=[
                {
                    "type": "call-webhook",
                    "block_document_id": BLOCK,
                    "payload": "{{ event.resource.id }} {{ event.event }}",
                }
            ]
        ),
        {},
    ),
    (
        "selected run-deployment on flow runs of one deployment",
        automation(
            event_trigger(
                expect=["prefect.flow-run.Running"],
                match={},
                match_related=[{"prefect.resource.id": ["prefect.deployment.x"]}],
            ),
            actions=[run_deployment()],
        ),
        {},
    ),
    (
        "a looping automation may be stored disabled",
        automation(
            event_trigger(expect=["prefect.flow-run.*"], match={}),
            actions=[run_deployment(source="inferred", deployment_id=None)],
            enabled=False,
        ),
        {},
    ),
]


@pytest.mark.parametrize(
    ("doc", "kwargs"), [(d, k) for _, d, k in VALID], ids=[n for n, _, _ in VALID]
)
def test_valid_automations_pass(doc: AutomationDocument, kwargs: dict[str, Any]) -> None:
    before = copy.deepcopy(doc)
    validate_automation(doc, **kwargs)
    assert doc == before  # the input is never modified


INVALID: list[tuple[str, AutomationDocument, dict[str, Any], str, str]] = [
    ("name required", automation(name="  "), {}, "name", "required"),
    (
        "trigger required",
        automation(
            trigger={},
        ),
        {},
        "trigger",
        "must be one of",
    ),
    (
        "proactive within 5 s",
        automation(event_trigger(posture="Proactive", within=5.0)),
        {},
        "trigger.event.within",
        "at least 10",
    ),
    (
        "reactive within negative",
        automation(event_trigger(within=-1.0)),
        {},
        "trigger.event.within",
        "negative",
    ),
    (
        "posture Metric on an event trigger",
        automation(event_trigger(posture="Metric")),
        {},
        "trigger.event.posture",
        "metric",
    ),
    (
        "negative threshold",
        automation(event_trigger(threshold=-1)),
        {},
        "trigger.event.threshold",
        "negative",
    ),
    (
        "match-all trigger",
        automation(event_trigger(expect=[], match={})),
        {},
        "trigger.event.expect",
        "every event",
    ),
    (
        "nested match-all trigger",
        automation(compound([event_trigger(expect=[], match={})])),
        {},
        "trigger.compound.triggers[0].event.expect",
        "every event",
    ),
    (
        "compound require 0",
        automation(compound([event_trigger()], 0)),
        {},
        "trigger.compound.require_count",
        "between 1 and",
    ),
    (
        "compound require more than children",
        automation(compound([event_trigger()], 2)),
        {},
        "trigger.compound.require_count",
        "between 1 and",
    ),
    (
        "compound without children",
        automation(compound([], "any")),
        {},
        "trigger.compound.triggers",
        "at least one",
    ),
    (
        "nested proactive within 5 s",
        automation(compound([event_trigger(), event_trigger(posture="Proactive", within=5.0)])),
        {},
        "trigger.compound.triggers[1].event.within",
        "at least 10",
    ),
    (
        "metric range below 300 s",
        automation(metric(range=299.0)),
        {},
        "trigger.metric.metric.range",
        "at least 300",
    ),
    (
        "metric firing_for below 300 s",
        automation(metric(firing_for=60.0)),
        {},
        "trigger.metric.metric.firing_for",
        "at least 300",
    ),
    (
        "metric without a name",
        automation(metric(name=None)),
        {},
        "trigger.metric.metric.name",
        "required",
    ),
    (
        "metric inside a compound",
        automation(compound([metric()])),
        {},
        "trigger.compound.triggers[0].metric",
        "cannot be part",
    ),
    (
        "selected deployment needs the id",
        automation(actions=[run_deployment(deployment_id=None)]),
        {},
        "actions[0].deployment_id",
        "required",
    ),
    (
        "inferred deployment forbids the id",
        automation(
            actions=[
                {"type": "pause-deployment", "source": "inferred", "deployment_id": DEPLOYMENT}
            ]
        ),
        {},
        "actions[0].deployment_id",
        "not allowed",
    ),
    (
        "deployment id must be a UUID",
        automation(actions=[run_deployment(deployment_id="nope")]),
        {},
        "actions[0].deployment_id",
        "UUID",
    ),
    (
        "work pool selected needs the id",
        automation(
            actions=[{"type": "pause-work-pool", "source": "selected", "work_pool_id": None}]
        ),
        {},
        "actions[0].work_pool_id",
        "required",
    ),
    (
        "work queue inferred forbids the id",
        automation(
            actions=[
                {"type": "resume-work-queue", "source": "inferred", "work_queue_id": DEPLOYMENT}
            ]
        ),
        {},
        "actions[0].work_queue_id",
        "not allowed",
    ),
    (
        "automation action id must be a UUID",
        automation(
            actions_on_trigger=[
                {"type": "pause-automation", "source": "selected", "automation_id": "x"}
            ]
        ),
        {},
        "actions_on_trigger[0].automation_id",
        "UUID",
    ),
    (
        "webhook template syntax error",
        automation(
            actions=[
                {"type": "call-webhook", "block_document_id": BLOCK, "payload": "{{ event.id "}
            ]
        ),
        {},
        "actions[0].payload",
        "line 1",
    ),
    (
        "webhook without a block",
        automation(actions=[{"type": "call-webhook", "block_document_id": None, "payload": ""}]),
        {},
        "actions[0].block_document_id",
        "required",
    ),
    (
        "notification body template error",
        automation(
            actions_on_resolve=[
                {
                    "type": "send-notification",
                    "block_document_id": BLOCK,
                    "subject": "s",
                    "body": "line one\n{% for x in y %}",
                }
            ]
        ),
        {},
        "actions_on_resolve[0].body",
        "line 2",
    ),
    (
        "notification too many loops",
        automation(
            actions=[
                {
                    "type": "send-notification",
                    "block_document_id": BLOCK,
                    "subject": "s",
                    "body": "{% for x in y %}{% endfor %}" * 11,
                }
            ]
        ),
        {},
        "actions[0].body",
        "for loops",
    ),
    (
        "run-deployment parameter template error",
        automation(actions=[run_deployment(parameters={"outer": {"inner": "{{ broken"}})]),
        {},
        "actions[0].parameters.outer.inner",
        "invalid template",
    ),
    (
        "change-flow-run-state needs a state",
        automation(
            actions=[
                {
                    "type": "change-flow-run-state",
                    "state": None,
                    "name": None,
                    "message": None,
                    "force": False,
                }
            ]
        ),
        {},
        "actions[0].state",
        "required",
    ),
    (
        "unknown action type",
        automation(actions=[{"type": "unset"}]),
        {},
        "actions[0]",
        "action type",
    ),
    (
        "loop: inferred run-deployment on flow-run events",
        automation(
            event_trigger(expect=["prefect.flow-run.Running"], match={}),
            actions=[run_deployment(source="inferred", deployment_id=None)],
        ),
        {},
        "actions[0].source",
        "forever",
    ),
    (
        "loop: selected run-deployment on every flow run",
        automation(
            event_trigger(
                expect=["prefect.flow-run.*"], match={"prefect.resource.id": ["prefect.flow-run.*"]}
            ),
            actions=[run_deployment()],
        ),
        {},
        "actions[0]",
        "triggered by the flow runs",
    ),
]


@pytest.mark.parametrize(
    ("doc", "kwargs", "field", "fragment"),
    [(d, k, f, m) for _, d, k, f, m in INVALID],
    ids=[n for n, *_ in INVALID],
)
def test_invalid_automations_name_the_field(
    doc: AutomationDocument, kwargs: dict[str, Any], field: str, fragment: str
) -> None:
    found = violations(doc, **kwargs)
    assert field in found, found
    assert fragment.lower() in found[field].lower()


def test_proactive_within_zero_is_coerced_to_ten_seconds() -> None:
    doc = validate_automation(automation(event_trigger(posture="Proactive", within=0.0)))
    assert doc.trigger is not None
    assert doc.trigger["within"] == 10.0


def test_every_problem_is_reported_at_once() -> None:
    doc = automation(event_trigger(posture="Proactive", within=5.0), name="")
    assert set(violations(doc)) == {"name", "trigger.event.within"}


def test_check_template_reports_line_and_message() -> None:
    assert check_template("plain text") is None
    assert check_template("{{ event.id }}") is None
    problem = check_template("ok\n{{ event.id ")
    assert problem is not None
    assert problem.line == 2
    assert problem.message
