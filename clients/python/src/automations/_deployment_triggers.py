"""Deployment triggers (prefect.yaml `triggers:`): triggers that become owned automations."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from pydantic import Discriminator, Field, Tag, TypeAdapter

from automations._actions import RunDeployment
from automations._automation import AutomationCore
from automations._models import Model, Seconds
from automations._triggers import (
    CompoundTrigger,
    EventTrigger,
    MetricTrigger,
    SequenceTrigger,
    TriggerTypes,
    trigger_kind,
)

_PLAIN: TypeAdapter[TriggerTypes] = TypeAdapter(TriggerTypes)


def owner_of(deployment_id: UUID | str) -> str:
    """The owner resource of a deployment's automations."""
    return f"prefect.deployment.{deployment_id}"


class _DeploymentTrigger(Model):
    """What a deployment trigger adds to its trigger: the automation's name and the run."""

    name: str | None = None
    description: str = ""
    enabled: bool = True
    parameters: dict[str, Any] | None = None
    job_variables: dict[str, Any] | None = None
    schedule_after: Seconds = Field(default=timedelta(0), ge=timedelta(0))

    def as_automation(
        self, deployment_id: UUID | str, position: int = 1, deployment_name: str | None = None
    ) -> AutomationCore:
        """Prefect's conversion: one automation owned by the deployment that runs it."""
        extra = set(_DeploymentTrigger.model_fields)
        trigger = _PLAIN.validate_python(self.model_dump(exclude=extra))
        default = (
            f"{deployment_name}__automation_{position}"
            if deployment_name
            else f"Automation for deployment {deployment_id}"
        )
        return AutomationCore(
            name=self.name or default,
            description=self.description,
            enabled=self.enabled,
            trigger=trigger,
            actions=[
                RunDeployment(
                    source="selected",
                    deployment_id=UUID(str(deployment_id)),
                    parameters=self.parameters,
                    job_variables=self.job_variables,
                    schedule_after=self.schedule_after,
                )
            ],
            owner_resource=owner_of(deployment_id),
        )


class DeploymentEventTrigger(_DeploymentTrigger, EventTrigger):
    """An EventTrigger that runs its deployment."""


class DeploymentCompoundTrigger(_DeploymentTrigger, CompoundTrigger):
    """A CompoundTrigger that runs its deployment."""


class DeploymentSequenceTrigger(_DeploymentTrigger, SequenceTrigger):
    """A SequenceTrigger that runs its deployment."""


class DeploymentMetricTrigger(_DeploymentTrigger, MetricTrigger):
    """A MetricTrigger that runs its deployment."""


DeploymentTriggerTypes = Annotated[
    Annotated[DeploymentEventTrigger, Tag("event")]
    | Annotated[DeploymentCompoundTrigger, Tag("compound")]
    | Annotated[DeploymentSequenceTrigger, Tag("sequence")]
    | Annotated[DeploymentMetricTrigger, Tag("metric")],
    Discriminator(trigger_kind),
]
"""Any deployment trigger; without `type`, Prefect's rule picks the kind."""

_TRIGGERS: TypeAdapter[list[DeploymentTriggerTypes]] = TypeAdapter(list[DeploymentTriggerTypes])


def parse_deployment_triggers(
    document: Any, deployment_name: str | None = None
) -> list[DeploymentTriggerTypes]:
    """Triggers from a file's content: a list, `{"triggers": [...]}`, one trigger, or a
    prefect.yaml (`deployments[].triggers`; name the deployment when there are several)."""
    if isinstance(document, dict) and isinstance(document.get("deployments"), list):
        deployments = [
            d
            for d in document["deployments"]
            if deployment_name is None or d.get("name") == deployment_name
        ]
        if len(deployments) != 1:
            raise ValueError(
                "the file has several deployments: name one"
                if deployments
                else f"no deployment named {deployment_name!r} in the file"
            )
        document = deployments[0].get("triggers") or []
    elif isinstance(document, dict) and set(document) == {"triggers"}:
        document = document["triggers"] or []
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list):
        raise ValueError("expected a list of triggers or a `triggers:` key")
    return _TRIGGERS.validate_python(document)
