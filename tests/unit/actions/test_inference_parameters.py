"""run-deployment parameter rendering and hydration (reference §7.3)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from automations_actions.kinds.base import ActionFailed
from automations_actions.parameters import (
    HydrationError,
    hydrate_parameters,
    schedule_delay,
    upgrade_templates,
)
from automations_common.templating import TemplateProblem, render_template

EVENT = {
    "id": "e1",
    "event": "prefect.flow-run.Failed",
    "resource": {"prefect.resource.id": "prefect.flow-run.abc"},
    "payload": {"count": 3, "ratio": 0.5, "ok": True, "numbers": [1, 2], "none": None},
}
CONTEXT = {"event": EVENT, "automation": {"name": "ops"}}
VARIABLES = {"region": "eu-west-1", "limits": {"cpu": 2}}


class Calls:
    def __init__(self) -> None:
        self.renders: list[list[str]] = []

    async def render(self, sources: Sequence[str]) -> list[str]:
        self.renders.append(list(sources))
        return [render_template(source, CONTEXT) for source in sources]

    async def variable(self, name: str) -> Any:
        if name not in VARIABLES:
            raise ActionFailed(f"Variable {name!r} not found")
        return VARIABLES[name]


async def hydrate(parameters: dict[str, Any]) -> dict[str, Any]:
    calls = Calls()
    return await hydrate_parameters(parameters, calls.render, calls.variable)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # A single expression keeps its JSON type.
        ("{{ event }}", EVENT),
        ("{{ event.payload.count }}", 3),
        ("  {{ event.payload.ratio }} ", 0.5),
        ("{{ event.payload.ok }}", True),
        ("{{ event.payload.numbers }}", [1, 2]),
        ("{{ event.payload.none }}", None),
        ("{{- event.payload.count -}}", 3),
        ("{{ event.resource['prefect.resource.id'] }}", "prefect.flow-run.abc"),
        # Unknown names become null instead of failing.
        ("{{ nothing.here }}", None),
        # Mixed text or several expressions render to a string.
        ("count={{ event.payload.count }}", "count=3"),
        ("{{ event.payload.count }}{{ event.payload.count }}", "33"),
        ("{% if event.payload.ok %}yes{% endif %}", "yes"),
        # Plain values pass through untouched.
        ("no templates", "no templates"),
        (5, 5),
        (None, None),
        ({"deep": ["{{ event.payload.count }}", "x"]}, {"deep": [3, "x"]}),
        # Explicit kinds.
        ({"__prefect_kind": "jinja", "template": "{{ event.payload.count }}"}, "3"),
        (
            {
                "__prefect_kind": "json",
                "value": {"__prefect_kind": "jinja", "template": "{{ event.payload | tojson }}"},
            },
            EVENT["payload"],
        ),
        ({"__prefect_kind": "json", "value": '{"a": [1, 2]}'}, {"a": [1, 2]}),
        ({"__prefect_kind": "json", "value": {"a": 1}}, {"a": 1}),
        (
            {"__prefect_kind": "none", "value": {"a": "{{ not upgraded }}"}},
            {"a": "{{ not upgraded }}"},
        ),
        ({"__prefect_kind": "workspace_variable", "variable_name": "region"}, "eu-west-1"),
        ({"__prefect_kind": "workspace_variable", "variable_name": "limits"}, {"cpu": 2}),
        ({"__prefect_kind": "something-new", "value": 9}, 9),
    ],
)
async def test_values(value: Any, expected: Any) -> None:
    assert (await hydrate({"p": value}))["p"] == expected


@pytest.mark.parametrize(
    "node",
    [
        {"__prefect_kind": "json"},
        {"__prefect_kind": "workspace_variable"},
        {"__prefect_kind": "none"},
    ],
)
async def test_nodes_without_a_value_remove_the_key(node: dict[str, Any]) -> None:
    assert await hydrate({"p": node, "q": 1}) == {"q": 1}
    assert await hydrate({"p": [node, 2]}) == {"p": [2]}


@pytest.mark.parametrize(
    ("node", "problem"),
    [
        ({"__prefect_kind": "jinja"}, "has no 'template'"),
        ({"__prefect_kind": "json", "value": "{not json"}, "invalid JSON"),
        ({"__prefect_kind": "jinja", "template": 5}, "must be a string"),
    ],
)
async def test_bad_nodes(node: dict[str, Any], problem: str) -> None:
    with pytest.raises(HydrationError, match=problem):
        await hydrate({"p": node})


async def test_unknown_variable() -> None:
    with pytest.raises(ActionFailed, match="Variable 'nope' not found"):
        await hydrate({"p": {"__prefect_kind": "workspace_variable", "variable_name": "nope"}})


@pytest.mark.parametrize(
    "template",
    ["{{ ''.__class__.__mro__[1].__subclasses__() }} x", "{{ 'x' * 10**9 }}", "{% for %}"],
)
async def test_unsafe_or_broken_templates_fail(template: str) -> None:
    with pytest.raises(TemplateProblem):
        await hydrate({"p": template})


async def test_templates_render_in_one_batch() -> None:
    calls = Calls()
    parameters = {"a": "{{ event.id }}", "b": ["x {{ event.id }}", "{{ event.id }}"]}

    result = await hydrate_parameters(parameters, calls.render, calls.variable)

    assert result == {"a": "e1", "b": ["x e1", "e1"]}
    assert len(calls.renders) == 1


async def test_a_template_from_a_variable_renders_when_reached() -> None:
    calls = Calls()
    VARIABLES["greeting"] = "hello {{ automation.name }}"
    try:
        result = await hydrate_parameters(
            {
                "g": {
                    "__prefect_kind": "jinja",
                    "template": {
                        "__prefect_kind": "workspace_variable",
                        "variable_name": "greeting",
                    },
                }
            },
            calls.render,
            calls.variable,
        )
    finally:
        del VARIABLES["greeting"]
    assert result == {"g": "hello ops"}


def test_upgrade_keeps_existing_kind_nodes() -> None:
    node = {"__prefect_kind": "jinja", "template": "{{ x }}"}
    assert upgrade_templates({"a": node, "b": "{{ y }} z"}) == {
        "a": node,
        "b": {"__prefect_kind": "jinja", "template": "{{ y }} z"},
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, timedelta(0)),
        (0, timedelta(0)),
        (90, timedelta(seconds=90)),
        (1.5, timedelta(seconds=1.5)),
        ("30", timedelta(seconds=30)),
        ("PT10M", timedelta(minutes=10)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("pt1h30m5s", timedelta(hours=1, minutes=30, seconds=5)),
    ],
)
def test_schedule_after(value: Any, expected: timedelta) -> None:
    assert schedule_delay(value) == expected


@pytest.mark.parametrize("value", [-1, "soon", "P", "PT"])
def test_bad_schedule_after(value: Any) -> None:
    with pytest.raises(ActionFailed, match="schedule_after"):
        schedule_delay(value)
