"""Trigger models (event, compound, sequence, metric) in Prefect's JSON shape, with its rules."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from automations._models import Model, Posture, ResourceSpecification, Seconds

PROACTIVE_MINIMUM = timedelta(seconds=10)
METRIC_MINIMUM = timedelta(seconds=300)


def _as_list(value: Any) -> Any:
    """Sets (Prefect's type) become sorted lists; lists keep their order, minus repeats."""
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, list | tuple):
        return list(dict.fromkeys(value))
    if isinstance(value, str):
        return [value]
    return value


class _Trigger(Model):
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"id"})

    id: str | None = Field(default=None, description="Assigned by the server on every save.")


class _ResourceTrigger(_Trigger):
    match: ResourceSpecification = Field(default_factory=ResourceSpecification)
    match_related: ResourceSpecification | list[ResourceSpecification] = Field(
        default_factory=ResourceSpecification
    )

    def related_specs(self) -> list[ResourceSpecification]:
        """`match_related` as a list (Prefect accepts one spec or a list of them)."""
        if isinstance(self.match_related, list):
            return list(self.match_related)
        return [self.match_related] if len(self.match_related) else []


class EventTrigger(_ResourceTrigger):
    """Fires on the presence (Reactive) or absence (Proactive) of matching events."""

    type: Literal["event"] = "event"
    after: list[str] = Field(default_factory=list)
    expect: list[str] = Field(default_factory=list)
    for_each: list[str] = Field(default_factory=list)
    posture: Literal[Posture.Reactive, Posture.Proactive] = Posture.Reactive
    threshold: int = 1
    within: Seconds = Field(default=timedelta(0), ge=timedelta(0))

    @field_validator("after", "expect", "for_each", mode="before")
    @classmethod
    def _sets_as_lists(cls, value: Any) -> Any:
        return _as_list(value)

    @model_validator(mode="before")
    @classmethod
    def _proactive_minimum_within(cls, data: Any) -> Any:
        """Prefect's rule: a proactive `within` of 0 means 10 s; below 10 s is an error."""
        if not isinstance(data, dict):
            return data
        if "within" in data and data["within"] is None:
            raise ValueError("`within` should be a valid timedelta")
        within = data.get("within")
        if isinstance(within, int | float) and not isinstance(within, bool):
            within = timedelta(seconds=within)
        if data.get("posture") == Posture.Proactive:
            if isinstance(within, timedelta | None) and not within:
                within = PROACTIVE_MINIMUM
            elif isinstance(within, timedelta) and within < PROACTIVE_MINIMUM:
                raise ValueError(
                    "`within` for Proactive triggers must be greater than or equal to 10 seconds"
                )
        return data | {"within": within} if within is not None else data

    def describe(self) -> str:
        """One line for people (the CLI)."""
        if self.posture == Posture.Reactive:
            return f"Reactive: expecting {self.threshold} of {sorted(self.expect)}"
        return (
            f"Proactive: expecting {self.threshold} {sorted(self.expect)} event "
            f"within {self.within.total_seconds():g}s"
        )


class CompoundTrigger(_Trigger):
    """Fires when `require` (any, all or a number) of its triggers fired within `within`."""

    type: Literal["compound"] = "compound"
    triggers: list[TriggerTypes]
    within: Seconds | None = None
    require: int | Literal["any", "all"]

    @model_validator(mode="after")
    def _require_in_range(self) -> CompoundTrigger:
        if isinstance(self.require, int):
            if self.require < 1:
                raise ValueError("require must be at least 1")
            if self.require > len(self.triggers):
                raise ValueError("require must be less than or equal to the number of triggers")
        return self

    def describe(self) -> str:
        children = "; ".join(t.describe() for t in self.triggers)
        return f"{str(self.require).capitalize()} of: {children}"


class SequenceTrigger(_Trigger):
    """Fires when all its triggers fired in the declared order within `within`."""

    type: Literal["sequence"] = "sequence"
    triggers: list[TriggerTypes]
    within: Seconds | None = None

    def describe(self) -> str:
        return "In this order: " + "; ".join(t.describe() for t in self.triggers)


class PrefectMetric(StrEnum):
    """The flow-run metrics a metric trigger can watch."""

    lateness = "lateness"
    duration = "duration"
    successes = "successes"


class MetricTriggerOperator(StrEnum):
    """How the metric is compared with the threshold."""

    LT = "<"
    LTE = "<="
    GT = ">"
    GTE = ">="


class MetricTriggerQuery(Model):
    """The metric, its threshold and how long a breach or recovery must last."""

    name: PrefectMetric
    threshold: float
    operator: MetricTriggerOperator
    range: Seconds = METRIC_MINIMUM
    firing_for: Seconds = METRIC_MINIMUM

    @field_validator("range", "firing_for")
    @classmethod
    def _minimum(cls, value: timedelta) -> timedelta:
        if value < METRIC_MINIMUM:
            raise ValueError("The minimum range is 300 seconds (5 minutes)")
        return value


class MetricTrigger(_ResourceTrigger):
    """Fires when a flow-run metric breaches its threshold for `firing_for`."""

    type: Literal["metric"] = "metric"
    posture: Literal[Posture.Metric] = Posture.Metric
    metric: MetricTriggerQuery

    def describe(self) -> str:
        m = self.metric
        return (
            f"Metric: {m.name.value} {m.operator.value} {m.threshold:g} "
            f"for {m.range.total_seconds():g}s"
        )


def trigger_kind(value: Any) -> str:
    """The trigger type of a document; without `type`, Prefect's deployment-trigger rule."""
    if isinstance(value, dict):
        kind = value.get("type")
        if kind is None:
            if value.get("posture") == Posture.Metric:
                return "metric"
            if "triggers" in value:
                return "compound" if "require" in value else "sequence"
            return "event"
        return str(kind)
    return str(getattr(value, "type", "event"))


TriggerTypes = Annotated[
    Annotated[EventTrigger, Tag("event")]
    | Annotated[CompoundTrigger, Tag("compound")]
    | Annotated[SequenceTrigger, Tag("sequence")]
    | Annotated[MetricTrigger, Tag("metric")],
    Discriminator(trigger_kind),
]
"""Any trigger, chosen by its `type`."""

CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()
