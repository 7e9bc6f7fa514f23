"""Rules an automation must follow before it is stored (Prefect's, plus loop guards).

Pure: works on AutomationDocument, reports every problem at once as field violations
named by their proto path (`trigger.event.within`, `actions[0].deployment_id`), and
returns the document with Prefect's coercions applied (proactive `within` 0 -> 10 s).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from automations_common.errors import ViolationCollector
from automations_common.templating import TemplateProblem, validate_template
from automations_triggers.documents import (
    ACTION_LISTS,
    AutomationDocument,
    JsonDict,
    iter_triggers,
)

MIN_PROACTIVE_WITHIN_SECONDS = 10.0
MIN_METRIC_SECONDS = 300.0
MAX_EVENT_NAME_LENGTH = 1024
_POSTURES = {"Reactive", "Proactive"}
# Actions whose target is selected by id or inferred from the event, and the id field.
_TARGETED = {
    "run-deployment": "deployment_id",
    "pause-deployment": "deployment_id",
    "resume-deployment": "deployment_id",
    "pause-work-queue": "work_queue_id",
    "resume-work-queue": "work_queue_id",
    "pause-work-pool": "work_pool_id",
    "resume-work-pool": "work_pool_id",
    "pause-automation": "automation_id",
    "resume-automation": "automation_id",
}
_KNOWN_ACTIONS = {
    *_TARGETED,
    "do-nothing",
    "cancel-flow-run",
    "suspend-flow-run",
    "resume-flow-run",
    "change-flow-run-state",
    "delete-flow-run",
    "send-notification",
    "call-webhook",
}
# Reference §6.5: a run-deployment fed by these flow-run events can start itself forever.
_LOOPING_EVENTS = {
    "prefect.flow-run.Scheduled",
    "prefect.flow-run.Pending",
    "prefect.flow-run.Running",
    "prefect.flow-run.*",
}


def validate_automation(
    automation: AutomationDocument, *, allow_match_all: bool = False
) -> AutomationDocument:
    """The automation with coercions applied, or InvalidArgument listing every problem."""
    doc = copy.deepcopy(automation)
    problems = ViolationCollector()
    if not doc.name.strip():
        problems.add("name", "is required")
    if doc.trigger is None:
        problems.add("trigger", "is required: one of event, compound, sequence or metric")
    else:
        for path, trigger in iter_triggers(doc.trigger):
            nested = ".triggers[" in path
            _check_trigger(path, trigger, problems, allow_match_all, nested=nested)
    for group in ACTION_LISTS:
        for index, action in enumerate(getattr(doc, group)):
            _check_action(f"{group}[{index}]", action, problems)
    _check_run_deployment_loops(doc, problems)
    problems.raise_if_any("invalid automation")
    return doc


# --- triggers -------------------------------------------------------------------------


def _check_trigger(
    path: str, trigger: JsonDict, problems: ViolationCollector, allow_match_all: bool, nested: bool
) -> None:
    kind = trigger.get("type")
    if kind == "event":
        _check_event_trigger(path, trigger, problems, allow_match_all)
    elif kind in ("compound", "sequence"):
        _check_composite(path, trigger, problems)
    elif kind == "metric":
        if nested:
            problems.add(path, "a metric trigger cannot be part of a compound or sequence")
        _check_metric(path, trigger, problems)
    else:
        problems.add(path.rsplit(".", 1)[0], "must be one of event, compound, sequence or metric")


def _check_event_trigger(
    path: str, trigger: JsonDict, problems: ViolationCollector, allow_match_all: bool
) -> None:
    posture = trigger.get("posture", "Reactive")
    if posture not in _POSTURES:
        problems.add(
            f"{path}.posture", f"{posture} is only for metric triggers; use Reactive or Proactive"
        )
    within = float(trigger.get("within") or 0.0)
    if posture == "Proactive":
        if within == 0:
            # Prefect coerces a missing or zero proactive window to the minimum.
            trigger["within"] = within = MIN_PROACTIVE_WITHIN_SECONDS
        elif within < MIN_PROACTIVE_WITHIN_SECONDS:
            problems.add(
                f"{path}.within",
                f"must be at least {MIN_PROACTIVE_WITHIN_SECONDS:g} s for a proactive trigger "
                f"(got {within:g} s)",
            )
    elif within < 0:
        problems.add(f"{path}.within", "must not be negative")
    threshold = int(trigger.get("threshold", 1))
    if threshold < 0:
        problems.add(f"{path}.threshold", "must not be negative")
    for field in ("expect", "after"):
        for index, name in enumerate(trigger.get(field) or []):
            if not name or len(name) > MAX_EVENT_NAME_LENGTH:
                problems.add(
                    f"{path}.{field}[{index}]",
                    f"must be 1 to {MAX_EVENT_NAME_LENGTH} characters",
                )
    for index, label in enumerate(trigger.get("for_each") or []):
        if not label:
            problems.add(f"{path}.for_each[{index}]", "must not be empty")
    if not allow_match_all and matches_every_event(trigger):
        problems.add(
            f"{path}.expect",
            "with empty expect, match and match_related this trigger would match every event "
            "(including the automation's own events); narrow it, or set allow_match_all",
        )


def matches_every_event(trigger: JsonDict) -> bool:
    """An event trigger with nothing to filter on (Prefect issue #11470)."""
    related = trigger.get("match_related") or []
    if isinstance(related, dict):
        related = [related]
    return (
        not trigger.get("expect") and not trigger.get("match") and not any(spec for spec in related)
    )


def _check_composite(path: str, trigger: JsonDict, problems: ViolationCollector) -> None:
    children = trigger.get("triggers") or []
    if not children:
        problems.add(f"{path}.triggers", "needs at least one trigger")
    within = trigger.get("within")
    if within is not None and float(within) < 0:
        problems.add(f"{path}.within", "must not be negative")
    require = trigger.get("require", "all")
    is_count = trigger.get("type") == "compound" and require not in ("any", "all")
    if is_count and (not isinstance(require, int) or not 1 <= require <= len(children)):
        problems.add(
            f"{path}.require_count",
            f"must be between 1 and the number of triggers ({len(children)}); got {require}",
        )


def _check_metric(path: str, trigger: JsonDict, problems: ViolationCollector) -> None:
    query: JsonDict = trigger.get("metric") or {}
    if trigger.get("posture", "Metric") != "Metric":
        problems.add(f"{path}.posture", "a metric trigger's posture is Metric")
    if not query.get("name"):
        problems.add(f"{path}.metric.name", "is required: lateness, duration or successes")
    if not query.get("operator"):
        problems.add(f"{path}.metric.operator", "is required: <, <=, > or >=")
    for field in ("range", "firing_for"):
        value = float(query.get(field) or 0.0)
        if value < MIN_METRIC_SECONDS:
            problems.add(
                f"{path}.metric.{field}",
                f"must be at least {MIN_METRIC_SECONDS:g} s (got {value:g} s)",
            )


# --- actions --------------------------------------------------------------------------


def _check_action(path: str, action: JsonDict, problems: ViolationCollector) -> None:
    kind = action.get("type")
    if kind not in _KNOWN_ACTIONS:
        problems.add(path, "must name an action type, for example call-webhook or do-nothing")
        return
    if kind in _TARGETED:
        _check_target(path, action, _TARGETED[kind], problems)
    if kind == "run-deployment":
        if float(action.get("schedule_after") or 0.0) < 0:
            problems.add(f"{path}.schedule_after", "must not be negative")
        _check_parameter_templates(f"{path}.parameters", action.get("parameters"), problems)
    elif kind == "change-flow-run-state":
        if not action.get("state"):
            problems.add(f"{path}.state", "is required")
    elif kind == "send-notification":
        _check_block(path, action, problems)
        if not action.get("body"):
            problems.add(f"{path}.body", "is required")
        for field in ("subject", "body"):
            _check_template(f"{path}.{field}", action.get(field), problems)
    elif kind == "call-webhook":
        _check_block(path, action, problems)
        _check_template(f"{path}.payload", action.get("payload"), problems)


def _check_target(path: str, action: JsonDict, field: str, problems: ViolationCollector) -> None:
    source = action.get("source") or "selected"
    target = action.get(field)
    if source == "selected":
        if not target:
            problems.add(f"{path}.{field}", "is required when source is selected")
        elif not _is_uuid(target):
            problems.add(f"{path}.{field}", f"{target!r} is not a valid UUID")
    elif source == "inferred":
        if target:
            problems.add(f"{path}.{field}", "is not allowed when source is inferred")
    else:
        problems.add(f"{path}.source", "must be selected or inferred")


def _check_block(path: str, action: JsonDict, problems: ViolationCollector) -> None:
    block = action.get("block_document_id")
    if not block:
        problems.add(f"{path}.block_document_id", "is required")
    elif not _is_uuid(block):
        problems.add(f"{path}.block_document_id", f"{block!r} is not a valid UUID")


def _check_template(path: str, source: Any, problems: ViolationCollector) -> None:
    if not isinstance(source, str):
        return
    try:
        validate_template(source)
    except TemplateProblem as problem:
        where = f"line {problem.line}: " if problem.line else ""
        problems.add(path, f"invalid template: {where}{problem.message}")


def _check_parameter_templates(path: str, value: Any, problems: ViolationCollector) -> None:
    """Every string in run-deployment parameters is a template (Prefect's v1 upgrade)."""
    if isinstance(value, str):
        _check_template(path, value, problems)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_parameter_templates(f"{path}.{key}", item, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_parameter_templates(f"{path}[{index}]", item, problems)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


# --- loops ----------------------------------------------------------------------------


def _check_run_deployment_loops(doc: AutomationDocument, problems: ViolationCollector) -> None:
    """Reference §6.5: refuse a run-deployment that its own flow runs would trigger again."""
    trigger = doc.trigger
    if not doc.enabled or trigger is None or trigger.get("type") != "event":
        return
    if trigger.get("posture", "Reactive") != "Reactive":
        return
    expect = set(trigger.get("expect") or [])
    if not any(name.startswith("prefect.flow-run.") for name in expect):
        return
    if not expect & _LOOPING_EVENTS:
        return
    related = trigger.get("match_related") or []
    if isinstance(related, dict):
        related = [related]
    unfiltered = _is_trivial_spec(trigger.get("match") or {}) and (
        not related or any(_is_trivial_spec(spec) for spec in related)
    )
    for group in ACTION_LISTS:
        for index, action in enumerate(getattr(doc, group)):
            if action.get("type") != "run-deployment":
                continue
            if (action.get("source") or "selected") == "inferred":
                problems.add(
                    f"{group}[{index}].source",
                    "running the inferred deployment on its own flow-run state changes would "
                    "start flow runs forever; select the deployment and narrow the trigger",
                )
            elif unfiltered:
                problems.add(
                    f"{group}[{index}]",
                    "this run-deployment would be triggered by the flow runs it starts; "
                    "narrow trigger.event.match or match_related to other flow runs",
                )


def _is_trivial_spec(spec: dict[str, Any]) -> bool:
    if not spec:
        return True
    values = spec.get("prefect.resource.id")
    if isinstance(values, str):
        values = [values]
    return len(spec) == 1 and values == ["prefect.flow-run.*"]


def check_template(source: str) -> TemplateProblem | None:
    """The problem with a template (syntax, loop limits), or None when it is usable."""
    try:
        validate_template(source)
    except TemplateProblem as problem:
        return problem
    return None
