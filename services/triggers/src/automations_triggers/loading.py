"""Prefect-shaped trigger documents to the engine's domain types (model.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from automations_triggers.documents import AutomationDocument, JsonDict
from automations_triggers.model import (
    Automation,
    CompoundTrigger,
    EventTrigger,
    MetricQuery,
    MetricTrigger,
    Posture,
    ResourceSpecification,
    SequenceTrigger,
    Trigger,
)


def to_engine_automation(doc: AutomationDocument) -> Automation | None:
    """The engine's view of a stored automation, or None when it has no trigger."""
    if doc.trigger is None:
        return None
    return Automation(
        id=doc.id, trigger=to_trigger(doc.trigger), name=doc.name, enabled=doc.enabled
    )


def _specs(value: Any) -> tuple[ResourceSpecification, ...]:
    if isinstance(value, dict):
        value = [value]
    return tuple(ResourceSpecification.of(spec) for spec in value or [])


def _window(value: Any) -> timedelta | None:
    return None if value is None else timedelta(seconds=float(value))


def to_trigger(doc: JsonDict) -> Trigger:
    kind = doc.get("type")
    if kind == "compound":
        require = doc.get("require", "all")
        return CompoundTrigger(
            id=doc["id"],
            triggers=tuple(to_trigger(t) for t in doc.get("triggers") or []),
            require=require if require in ("any", "all") else int(require),
            within=_window(doc.get("within")),
        )
    if kind == "sequence":
        return SequenceTrigger(
            id=doc["id"],
            triggers=tuple(to_trigger(t) for t in doc.get("triggers") or []),
            within=_window(doc.get("within")),
        )
    if kind == "metric":
        query = doc.get("metric") or {}
        return MetricTrigger(
            id=doc["id"],
            metric=MetricQuery(
                name=query["name"],
                threshold=float(query.get("threshold") or 0.0),
                operator=query["operator"],
                range=timedelta(seconds=float(query.get("range") or 300.0)),
                firing_for=timedelta(seconds=float(query.get("firing_for") or 300.0)),
            ),
            match=ResourceSpecification.of(doc.get("match") or {}),
            match_related=_specs(doc.get("match_related")),
        )
    return EventTrigger(
        id=doc["id"],
        posture=Posture(doc.get("posture") or "Reactive"),
        match=ResourceSpecification.of(doc.get("match") or {}),
        match_related=_specs(doc.get("match_related")),
        after=frozenset(doc.get("after") or ()),
        expect=frozenset(doc.get("expect") or ()),
        for_each=tuple(doc.get("for_each") or ()),
        threshold=int(doc.get("threshold", 1)),
        within=timedelta(seconds=float(doc.get("within") or 0.0)),
    )
