"""What action templates can see (Prefect's template context), and JSON-typed rendering.

`automation`, `event`, `labels`, `firing` are always there; `flow_run`, `flow`,
`deployment`, `work_pool`, `work_queue` are read through an ObjectLoader only when a
template names them, and only when there is a triggering event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any

from automations_actions.kinds.base import ActionInvocation, ObjectLoader
from automations_common.templating import TemplateProblem, Templates

# Template name -> Prefect resource kind (`prefect.<kind>.<id>`).
LAZY_OBJECTS = {
    "flow_run": "flow-run",
    "flow": "flow",
    "deployment": "deployment",
    "work_pool": "work-pool",
    "work_queue": "work-queue",
}
STATE_LABELS = {
    "prefect.state-type": "type",
    "prefect.state-name": "name",
    "prefect.state-message": "message",
    "prefect.state-timestamp": "timestamp",
}


class LabelDiver:
    """Dotted labels as attributes: `labels.prefect.resource.id`, or `labels['a.b']`."""

    def __init__(self, values: Mapping[str, str], path: str = "") -> None:
        self._values = values
        self._path = path

    def _full(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        path = self._full(name)
        # keys(): a Resource iterates as (label, value) pairs.
        deeper = any(key.startswith(path + ".") for key in self._values.keys())  # noqa: SIM118
        if path in self._values and not deeper:
            return self._values[path]
        return LabelDiver(self._values, path)

    def __getitem__(self, key: str) -> str:
        return self._values[self._full(key)]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._full(key) in self._values

    def __str__(self) -> str:
        return self._values.get(self._path, "")

    def __bool__(self) -> bool:
        return self._path == "" or self._path in self._values


class Resource(dict[str, str]):
    """An event's resource: a label dict that iterates as (label, value) pairs, like Prefect's."""

    @property
    def id(self) -> str:
        return self.get("prefect.resource.id", "")

    @property
    def name(self) -> str | None:
        return self.get("prefect.resource.name")

    @property
    def role(self) -> str | None:
        return self.get("prefect.resource.role")

    @property
    def labels(self) -> LabelDiver:
        return LabelDiver(self)

    def __iter__(self) -> Iterator[tuple[str, str]]:  # type: ignore[override]
        return iter(self.items())


class Event(dict[str, Any]):
    """The triggering event in Prefect's JSON form, with Resource objects inside."""

    @property
    def involved_resources(self) -> list[Resource]:
        return [self["resource"], *self["related"]]


class OrchestrationObject(dict[str, Any]):
    """An object read from the orchestrator, tagged with its kind for `ui_url`."""

    def __init__(self, kind: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self._kind = kind


def as_event(data: Mapping[str, Any] | None) -> Event | None:
    if data is None:
        return None
    event = Event(data)
    event["resource"] = Resource(data.get("resource") or {})
    event["related"] = [Resource(r) for r in data.get("related") or []]
    return event


def first_resource_id(event: Event, kind: str) -> str | None:
    """The id suffix of the first involved resource of `prefect.<kind>`, as Prefect picks it."""
    prefix = f"prefect.{kind}."
    for resource in event.involved_resources:
        resource_id = resource.id
        if resource_id.startswith(prefix) and "." not in resource_id[len(prefix) :]:
            return resource_id[len(prefix) :]
    return None


def ui_url(base: str, obj: Any) -> str | None:
    """A UI link for an event, resource, automation or orchestration object; None if unknown."""
    if not base:
        return None
    base = base.rstrip("/")
    if isinstance(obj, Event):
        occurred = str(obj.get("occurred", ""))[:10]
        return f"{base}/events/event/{occurred}/{obj.get('id')}"
    if isinstance(obj, Resource):
        kind, _, object_id = obj.id.rpartition(".")
        return _ui_path(base, kind.removeprefix("prefect."), object_id, obj.name or "")
    if isinstance(obj, OrchestrationObject):
        return _ui_path(base, obj._kind, str(obj.get("id", "")), str(obj.get("name", "")))
    return None


def _ui_path(base: str, kind: str, object_id: str, name: str) -> str | None:
    paths = {
        "flow-run": f"/runs/flow-run/{object_id}",
        "flow": f"/flows/flow/{object_id}",
        "deployment": f"/deployments/deployment/{object_id}",
        "work-pool": f"/work-pools/work-pool/{name}",
        "work-queue": f"/work-queues/work-queue/{object_id}",
        "automation": f"/automations/automation/{object_id}",
    }
    path = paths.get(kind)
    return None if path is None or not object_id else base + path


def _state_from_labels(resource: Resource, current: Any) -> dict[str, Any]:
    state = dict(current) if isinstance(current, Mapping) else {}
    for label, key in STATE_LABELS.items():
        if label in resource:
            state[key] = resource[label]
    return state


async def _load(name: str, event: Event, loader: ObjectLoader) -> OrchestrationObject | None:
    kind = LAZY_OBJECTS[name]
    object_id = first_resource_id(event, kind)
    if object_id is None:
        return None
    loaded = await loader.load(kind, object_id)
    if loaded is None:
        return None
    obj = OrchestrationObject(kind, loaded)
    if name == "flow_run":
        # Templates show the state the event reported, not the one the run has now.
        resource = next(
            r for r in event.involved_resources if r.id == f"prefect.flow-run.{object_id}"
        )
        obj["state"] = _state_from_labels(resource, obj.get("state"))
    return obj


def names_in(sources: Iterable[str], templates: Templates) -> set[str]:
    """Every top-level name the templates use; raises TemplateProblem for a bad template."""
    names: set[str] = set()
    for source in sources:
        names |= templates.referenced_names(source)
    return names


def template_filters(ui_base_url: str) -> dict[str, Callable[..., Any]]:
    """The extra filters of reference §7.1: `{{ flow_run|ui_url }}`."""
    return {"ui_url": partial(ui_url, ui_base_url)}


async def template_context(
    invocation: ActionInvocation,
    names: set[str],
    loader: ObjectLoader | None = None,
) -> dict[str, Any]:
    """The context for rendering `invocation`'s templates, which use `names`."""
    event = as_event(invocation.triggering_event)
    automation = OrchestrationObject("automation", invocation.automation)
    labels = dict(invocation.firing.get("triggering_labels") or {})
    context: dict[str, Any] = {
        "automation": automation,
        "event": event,
        "labels": LabelDiver(labels),
        "firing": dict(invocation.firing),
        "firings": [dict(invocation.firing)],
        "events": [event] if event is not None else [],
    }
    metric = invocation.firing.get("triggering_value")
    if metric is not None:
        context["metric"] = metric  # a metric trigger's value at the transition
    for name in LAZY_OBJECTS:
        if name in names:
            found = None
            if event is not None and loader is not None:
                found = await _load(name, event, loader)
            context[name] = found
    return context


_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%|%\}).)*)\}\}\s*$", re.S)


def render_json_value(value: Any, context: Mapping[str, Any], templates: Templates) -> Any:
    """Render every template string in a JSON tree; a lone `{{ expr }}` keeps its JSON type.

    `"{{ event }}"` gives the event as an object and `"{{ flow_run.parameters.x }}"` an int
    if x is one (Prefect 3.6.24+); mixed text gives a string. Raises TemplateProblem.
    """
    if isinstance(value, str):
        match = _SINGLE_EXPRESSION.match(value)
        if match is None:
            return templates.render(value, context)
        expression = match.group("expr").strip()
        rendered = templates.render("{{ ((" + expression + ")|default(none))|tojson }}", context)
        try:
            return json.loads(rendered)
        except ValueError as exc:
            raise TemplateProblem(f"the value of {expression!r} is not JSON: {exc}") from None
    if isinstance(value, Mapping):
        return {key: render_json_value(item, context, templates) for key, item in value.items()}
    if isinstance(value, list):
        return [render_json_value(item, context, templates) for item in value]
    return value
