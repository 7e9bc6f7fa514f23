"""Deployment triggers parse like Prefect's and become owned run-deployment automations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from automations import (
    CompoundTrigger,
    DeploymentCompoundTrigger,
    DeploymentEventTrigger,
    DeploymentMetricTrigger,
    DeploymentSequenceTrigger,
    EventTrigger,
    RunDeployment,
    parse_deployment_triggers,
)

DEPLOYMENT = "b3514963-02b1-47a5-93d1-6eeb131041cb"
TRIGGERS: list[dict[str, Any]] = [
    {
        "enabled": True,
        "match": {"prefect.resource.id": "my.external.resource"},
        "expect": ["external.resource.pinged"],
        "parameters": {"param_1": "{{ event.resource.id }}"},
        "schedule_after": "PT1M",
    },
    {"name": "both", "triggers": [{"expect": ["a"]}, {"expect": ["b"]}], "require": "all"},
    {"type": "sequence", "triggers": [{"expect": ["a"]}, {"expect": ["b"]}], "within": 60},
    {
        "posture": "Metric",
        "metric": {"name": "successes", "threshold": 0.8, "operator": "<"},
        "enabled": False,
    },
]


def test_the_kinds_follow_prefects_rule() -> None:
    parsed = parse_deployment_triggers({"triggers": TRIGGERS})
    assert [type(t) for t in parsed] == [
        DeploymentEventTrigger,
        DeploymentCompoundTrigger,
        DeploymentSequenceTrigger,
        DeploymentMetricTrigger,
    ]


@pytest.mark.parametrize(
    "document",
    [
        TRIGGERS,
        {"triggers": TRIGGERS},
        {"deployments": [{"name": "d", "triggers": TRIGGERS}]},
        {"deployments": [{"name": "x"}, {"name": "d", "triggers": TRIGGERS}]},
    ],
    ids=["list", "triggers key", "prefect.yaml", "prefect.yaml with several"],
)
def test_file_shapes(document: Any) -> None:
    assert len(parse_deployment_triggers(document, "d")) == 4


def test_one_trigger_and_empty_files() -> None:
    assert len(parse_deployment_triggers(TRIGGERS[0])) == 1
    assert parse_deployment_triggers({"triggers": None}) == []
    with pytest.raises(ValueError, match="no deployment named"):
        parse_deployment_triggers({"deployments": [{"name": "x"}]}, "d")
    with pytest.raises(ValueError, match="several deployments"):
        parse_deployment_triggers({"deployments": [{"name": "x"}, {"name": "y"}]})
    with pytest.raises(ValidationError):
        parse_deployment_triggers([{"posture": "Proactive", "within": 5}])


def test_as_automation_runs_the_deployment_and_is_owned_by_it() -> None:
    first, second, _, metric = parse_deployment_triggers(TRIGGERS)
    automation = first.as_automation(DEPLOYMENT, 1, "etl")
    assert automation.name == "etl__automation_1"
    assert automation.owner_resource == f"prefect.deployment.{DEPLOYMENT}"
    assert type(automation.trigger) is EventTrigger
    assert automation.trigger.match.patterns() == {"prefect.resource.id": ["my.external.resource"]}
    assert automation.actions == [
        RunDeployment(
            source="selected",
            deployment_id=UUID(DEPLOYMENT),
            parameters={"param_1": "{{ event.resource.id }}"},
            schedule_after=timedelta(minutes=1),
        )
    ]
    named = second.as_automation(DEPLOYMENT, 2)
    assert named.name == "both"
    assert type(named.trigger) is CompoundTrigger
    assert metric.as_automation(DEPLOYMENT).enabled is False
    assert metric.as_automation(DEPLOYMENT).name == f"Automation for deployment {DEPLOYMENT}"
