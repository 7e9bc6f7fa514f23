"""The public models accept Prefect's JSON, enforce its rules and dump the same JSON back."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from pydantic import TypeAdapter, ValidationError

from automations import (
    ActionTypes,
    Automation,
    CallWebhook,
    CancelFlowRun,
    ChangeFlowRunState,
    CompoundTrigger,
    EventTrigger,
    MetricTrigger,
    MetricTriggerQuery,
    PauseDeployment,
    Posture,
    ResourceSpecification,
    RunDeployment,
    SequenceTrigger,
    TriggerTypes,
)

from .prefect_documents import DOCUMENTS, WOODCHONK

TRIGGERS: TypeAdapter[TriggerTypes] = TypeAdapter(TriggerTypes)
ACTIONS: TypeAdapter[ActionTypes] = TypeAdapter(ActionTypes)
BLOCK_ID = "eeeeeeee-bbbb-4ccc-8ddd-eeeeeeeeeeee"


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_a_prefect_document_validates_and_dumps_back_equal(name: str) -> None:
    document = DOCUMENTS[name]
    automation = Automation.model_validate(document)
    assert automation.model_dump(mode="json") == document


def test_unknown_prefect_keys_are_tolerated() -> None:
    document = copy.deepcopy(WOODCHONK) | {"account": "x", "workspace": "y"}
    document["trigger"]["something_new"] = 1
    dumped = Automation.model_validate(document).model_dump(mode="json")
    assert dumped == WOODCHONK


def test_the_seed_woodchonk_example() -> None:
    automation = Automation(
        name="woodchonk",
        trigger=EventTrigger(
            expect={"animal.walked"},
            match={"genus": "Marmota", "species": "monax"},
            posture="Reactive",
            threshold=3,
            within=timedelta(seconds=10),
        ),
        actions=[CancelFlowRun()],
    )
    dumped = automation.model_dump(mode="json")
    expected = {k: v for k, v in WOODCHONK.items() if k not in {"id", "created", "updated"}}
    expected["trigger"] = {k: v for k, v in WOODCHONK["trigger"].items() if k != "id"}
    assert dumped == expected
    assert automation.id is None


@pytest.mark.parametrize(
    "within", [10, 10.0, timedelta(seconds=10), "PT10S", "P0DT0H0M10S"], ids=repr
)
def test_within_accepts_seconds_timedelta_and_iso8601(within: Any) -> None:
    trigger = EventTrigger(expect=["x"], within=within)
    assert trigger.within == timedelta(seconds=10)
    assert trigger.model_dump(mode="json")["within"] == 10.0


@pytest.mark.parametrize("within", [None, 0, 0.0, timedelta(0)], ids=repr)
def test_proactive_within_of_zero_means_ten_seconds(within: Any) -> None:
    document: dict[str, Any] = {"type": "event", "posture": "Proactive", "expect": ["x"]}
    if within is not None:
        document["within"] = within
    trigger = TRIGGERS.validate_python(document)
    assert isinstance(trigger, EventTrigger)
    assert trigger.within == timedelta(seconds=10)


def test_proactive_within_below_ten_seconds_is_refused() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 10 seconds"):
        EventTrigger(posture=Posture.Proactive, within=5)


def test_within_null_and_negative_are_refused() -> None:
    with pytest.raises(ValidationError, match="valid timedelta"):
        EventTrigger.model_validate({"within": None})
    with pytest.raises(ValidationError):
        EventTrigger(within=-1)


def test_event_trigger_refuses_metric_posture() -> None:
    with pytest.raises(ValidationError):
        EventTrigger.model_validate({"posture": "Metric"})


def test_sets_become_sorted_lists_and_lists_keep_their_order() -> None:
    assert EventTrigger(expect={"b", "a"}).expect == ["a", "b"]
    assert EventTrigger(expect=["b", "a", "b"]).expect == ["b", "a"]


def test_match_related_takes_one_spec_or_a_list() -> None:
    single = EventTrigger(match_related={"prefect.resource.role": "flow"})
    many = EventTrigger(match_related=[{"a": "1"}, {"b": ["2", "3"]}])
    assert single.model_dump(mode="json")["match_related"] == {"prefect.resource.role": "flow"}
    assert many.model_dump(mode="json")["match_related"] == [{"a": "1"}, {"b": ["2", "3"]}]
    assert [s.patterns() for s in many.related_specs()] == [{"a": ["1"]}, {"b": ["2", "3"]}]
    assert EventTrigger().related_specs() == []


def test_resource_specification_patterns() -> None:
    spec = ResourceSpecification({"a": "x*", "b": ["!y", "z"]})
    assert spec.patterns() == {"a": ["x*"], "b": ["!y", "z"]}
    assert len(spec) == 2


@pytest.mark.parametrize("require", [0, 3, -1])
def test_compound_require_must_be_between_one_and_the_number_of_triggers(require: int) -> None:
    with pytest.raises(ValidationError, match="require must be"):
        CompoundTrigger(triggers=[EventTrigger(), EventTrigger()], require=require)


@pytest.mark.parametrize("require", [1, 2, "any", "all"])
def test_compound_require_accepts_a_count_any_or_all(require: Any) -> None:
    trigger = CompoundTrigger(triggers=[EventTrigger(), EventTrigger()], require=require)
    assert trigger.require == require


@pytest.mark.parametrize("field", ["range", "firing_for"])
def test_metric_range_and_firing_for_are_at_least_300_seconds(field: str) -> None:
    values: dict[str, Any] = {"name": "successes", "threshold": 0.8, "operator": "<", field: 299}
    with pytest.raises(ValidationError, match="minimum range is 300 seconds"):
        MetricTriggerQuery.model_validate(values)


def test_metric_defaults() -> None:
    query = MetricTriggerQuery(name="duration", threshold=60, operator=">")
    assert query.range == query.firing_for == timedelta(seconds=300)
    trigger = MetricTrigger(metric=query)
    assert trigger.posture == Posture.Metric


@pytest.mark.parametrize(
    ("document", "kind"),
    [
        ({"expect": ["x"]}, EventTrigger),
        ({"posture": "Proactive", "expect": ["x"]}, EventTrigger),
        (
            {"posture": "Metric", "metric": {"name": "lateness", "threshold": 1, "operator": ">"}},
            MetricTrigger,
        ),
        ({"triggers": [{"expect": ["x"]}], "require": "all"}, CompoundTrigger),
        ({"triggers": [{"expect": ["x"]}]}, SequenceTrigger),
    ],
)
def test_without_type_the_deployment_trigger_rule_picks_the_kind(
    document: dict[str, Any], kind: type
) -> None:
    assert isinstance(TRIGGERS.validate_python(document), kind)


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ("pause-deployment", "deployment_id"),
        ("resume-deployment", "deployment_id"),
        ("run-deployment", "deployment_id"),
        ("pause-work-queue", "work_queue_id"),
        ("resume-work-queue", "work_queue_id"),
        ("pause-work-pool", "work_pool_id"),
        ("resume-work-pool", "work_pool_id"),
        ("pause-automation", "automation_id"),
        ("resume-automation", "automation_id"),
    ],
)
def test_selected_needs_the_id_and_inferred_forbids_it(action: str, field: str) -> None:
    with pytest.raises(ValidationError, match=f"{field} is required"):
        ACTIONS.validate_python({"type": action})
    with pytest.raises(ValidationError, match=f"{field} is not allowed"):
        ACTIONS.validate_python({"type": action, "source": "inferred", field: BLOCK_ID})
    inferred = ACTIONS.validate_python({"type": action, "source": "inferred"})
    assert getattr(inferred, field) is None
    selected = ACTIONS.validate_python({"type": action, field: BLOCK_ID})
    assert getattr(selected, field) == UUID(BLOCK_ID)


def test_action_defaults_follow_prefect() -> None:
    run = RunDeployment(deployment_id=UUID(BLOCK_ID))
    assert run.model_dump(mode="json") == {
        "type": "run-deployment",
        "source": "selected",
        "deployment_id": BLOCK_ID,
        "parameters": None,
        "job_variables": None,
        "schedule_after": 0.0,
    }
    assert ChangeFlowRunState(state="CANCELLED").force is False
    assert PauseDeployment(source="inferred").deployment_id is None


def test_call_webhook_keeps_a_legacy_dict_payload_as_its_json_text() -> None:
    action = CallWebhook(block_document_id=UUID(BLOCK_ID), payload={"a": 1})
    assert action.payload == '{"a": 1}'
    assert CallWebhook(block_document_id=UUID(BLOCK_ID)).payload == ""


def test_unknown_action_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        ACTIONS.validate_python({"type": "declare-incident"})


def test_describe_is_one_line_per_trigger() -> None:
    automation = Automation.model_validate(DOCUMENTS["stuck_runs"])
    summary = automation.describe()
    assert summary["name"] == "cancel stuck runs"
    assert summary["trigger"].startswith("Any of: Proactive")
    assert "run-deployment (selected" in summary["actions"]
