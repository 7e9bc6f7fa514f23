"""run-deployment parameters: Prefect's template upgrade and `__prefect_kind` hydration (§7.3).

Pure: templates are rendered and variables read through the callables passed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from automations_actions.kinds.base import ActionFailed
from automations_common.templating import is_template

KIND_KEY = "__prefect_kind"
_REMOVE = object()


class HydrationError(ValueError):
    """A parameter tree that cannot be hydrated (bad kind node, bad JSON, unknown variable)."""


def _single_expression(source: str) -> str | None:
    """The expression of a string that is exactly one `{{ expr }}`, else None."""
    text = source.strip()
    if not (text.startswith("{{") and text.endswith("}}")):
        return None
    if text.count("{{") != 1 or text.count("}}") != 1 or "{%" in text or "{#" in text:
        return None
    inner = text[2:-2]
    # `{{- expr -}}`: whitespace control belongs to the tags, not to the expression.
    inner = re.sub(r"^-|-$", "", inner).strip()
    return inner or None


def upgrade_templates(value: Any) -> Any:
    """Wrap plain template strings as kind nodes (Prefect's v1 upgrade, since 3.6.24).

    A single `{{ expr }}` keeps its JSON type (`json(jinja("{{ expr | tojson }}"))`);
    anything else with Jinja in it renders to a string. Existing kind nodes are kept.
    """
    if isinstance(value, str):
        if not is_template(value):
            return value
        expression = _single_expression(value)
        if expression is not None:
            # `default(none)`: an unknown name becomes null rather than failing tojson.
            template = "{{ ((" + expression + ")|default(none))|tojson }}"
            return {KIND_KEY: "json", "value": {KIND_KEY: "jinja", "template": template}}
        return {KIND_KEY: "jinja", "template": value}
    if isinstance(value, Mapping):
        if KIND_KEY in value:
            return value
        return {key: upgrade_templates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [upgrade_templates(item) for item in value]
    return value


def collect_templates(value: Any, found: list[str] | None = None) -> list[str]:
    """Every literal `jinja` template in the tree, so they render in one batch."""
    found = [] if found is None else found
    if isinstance(value, Mapping):
        template = value.get("template") if value.get(KIND_KEY) == "jinja" else None
        if isinstance(template, str) and template not in found:
            found.append(template)
        for item in value.values():
            collect_templates(item, found)
    elif isinstance(value, list):
        for item in value:
            collect_templates(item, found)
    return found


RenderMany = Callable[[Sequence[str]], Awaitable[list[str]]]
ReadVariable = Callable[[str], Awaitable[Any]]


async def hydrate_parameters(
    parameters: Mapping[str, Any], render: RenderMany, variable: ReadVariable
) -> dict[str, Any]:
    """Render and hydrate a run-deployment parameter tree.

    Templates known up front render in one call; a template produced by another node
    (e.g. a jinja node whose template comes from a variable) renders when reached.
    """
    tree = upgrade_templates(dict(parameters))
    sources = collect_templates(tree)
    rendered = dict(zip(sources, await render(sources), strict=True)) if sources else {}

    async def render_one(source: str) -> str:
        if source not in rendered:
            rendered[source] = (await render([source]))[0]
        return rendered[source]

    async def hydrate(node: Any) -> Any:
        if isinstance(node, list):
            items = [await hydrate(item) for item in node]
            return [item for item in items if item is not _REMOVE]
        if not isinstance(node, Mapping):
            return node
        if KIND_KEY not in node:
            result = {}
            for key, item in node.items():
                hydrated = await hydrate(item)
                if hydrated is not _REMOVE:
                    result[key] = hydrated
            return result
        kind = node[KIND_KEY]
        if kind == "jinja":
            if "template" not in node:
                raise HydrationError("a jinja parameter has no 'template'")
            template = await hydrate(node["template"])
            if not isinstance(template, str):
                raise HydrationError("a jinja parameter's template must be a string")
            return await render_one(template)
        if kind == "json":
            if "value" not in node:
                return _REMOVE
            value = await hydrate(node["value"])
            if not isinstance(value, str):
                return value
            try:
                return json.loads(value)
            except ValueError as exc:
                raise HydrationError(f"invalid JSON {value[:100]!r}: {exc}") from None
        if kind == "workspace_variable":
            name = node.get("variable_name")
            if not name:
                return _REMOVE
            return await variable(str(name))
        if kind == "none":
            return await hydrate(node["value"]) if "value" in node else _REMOVE
        return await hydrate(node.get("value"))

    hydrated = await hydrate(tree)
    return hydrated if isinstance(hydrated, dict) else {}


def schedule_delay(value: Any) -> timedelta:
    """`schedule_after` as seconds (number) or an ISO 8601 duration (`PT10M`)."""
    if value is None or value == "":
        return timedelta(0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = re.fullmatch(
            r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?"
            r"(?:(\d+(?:\.\d+)?)S)?)?",
            str(value).strip().upper(),
        )
        if match is None or str(value).strip().upper() in ("P", "PT"):
            try:
                seconds = float(str(value))
            except ValueError:
                raise ActionFailed(
                    f"schedule_after {value!r} is not a number of seconds or a duration"
                ) from None
        else:
            days, hours, minutes, secs = (float(part or 0) for part in match.groups())
            seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if seconds < 0:
        raise ActionFailed("schedule_after must not be negative")
    return timedelta(seconds=seconds)
