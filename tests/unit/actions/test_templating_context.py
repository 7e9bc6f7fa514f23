"""The template context: Prefect-like event objects, lazy objects, JSON-typed values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from automations_actions.kinds.base import ActionInvocation
from automations_actions.rendering import ContextRenderer
from automations_actions.templating_context import (
    LabelDiver,
    render_json_value,
    template_context,
)
from automations_common.templating import TemplateProblem, Templates

FLOW_RUN_ID = "0b5d0f4e-2f0e-4c6a-9a54-1c1d1a0f0001"
DEPLOYMENT_ID = "0b5d0f4e-2f0e-4c6a-9a54-1c1d1a0f0002"


def invocation(event: dict[str, Any] | None = None) -> ActionInvocation:
    if event is None:
        event = {
            "id": "e1",
            "occurred": "2026-01-02T03:04:05+00:00",
            "event": "prefect.flow-run.Failed",
            "resource": {
                "prefect.resource.id": f"prefect.flow-run.{FLOW_RUN_ID}",
                "prefect.resource.name": "brave-otter",
                "prefect.state-type": "FAILED",
                "prefect.state-name": "Failed",
            },
            "related": [
                {
                    "prefect.resource.id": f"prefect.deployment.{DEPLOYMENT_ID}",
                    "prefect.resource.role": "deployment",
                    "prefect.resource.name": "nightly",
                }
            ],
            "payload": {"attempt": 3},
        }
    return ActionInvocation(
        action_id="a1",
        action_index=0,
        action_type="call-webhook",
        action={"type": "call-webhook"},
        automation={"id": "auto-1", "name": "watch runs"},
        firing={"id": "f1", "triggering_labels": {"prefect.resource.id": "x.y", "team": "data"}},
        triggering_event=event,
        triggered_time=datetime(2026, 1, 2, tzinfo=UTC),
    )


class RecordingLoader:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def load(self, kind: str, object_id: str) -> dict[str, Any] | None:
        self.calls.append((kind, object_id))
        if kind == "flow-run":
            return {"id": object_id, "name": "brave-otter", "state": {"type": "COMPLETED"}}
        if kind == "deployment":
            return {"id": object_id, "name": "nightly", "parameters": {"n": 3}}
        return None


async def render(source: str, loader: RecordingLoader | None = None, ui_base_url: str = "") -> str:
    [rendered] = await ContextRenderer(loader, ui_base_url).render_many(invocation(), [source])
    return rendered


async def test_event_resources_behave_like_prefects() -> None:
    assert await render("{{ event.resource.id }}|{{ event.resource.name }}") == (
        f"prefect.flow-run.{FLOW_RUN_ID}|brave-otter"
    )
    assert await render("{{ event.resource.labels.prefect.resource.name }}") == "brave-otter"
    assert await render("{{ event.related[0].role }}") == "deployment"
    pairs = await render("{% for k, v in event.resource %}{{ k }};{% endfor %}")
    assert pairs.startswith("prefect.resource.id;prefect.resource.name;")
    assert await render("{{ event.payload.attempt }} {{ event.event }}") == (
        "3 prefect.flow-run.Failed"
    )
    assert await render("{{ automation.name }} {{ firing.id }}") == "watch runs f1"


async def test_labels_dive_and_index() -> None:
    assert await render("{{ labels.prefect.resource.id }}/{{ labels['team'] }}") == "x.y/data"
    assert await render("[{{ labels.nothing.here }}]") == "[]"
    diver = LabelDiver({"a.b": "1", "a.b.c": "2"})
    assert str(diver.a.b) == "1"
    assert diver.a.b.c == "2"


async def test_objects_load_only_when_named_and_flow_run_state_comes_from_the_event() -> None:
    loader = RecordingLoader()
    assert await render("{{ event.event }}", loader) == "prefect.flow-run.Failed"
    assert loader.calls == []
    rendered = await render("{{ flow_run.name }} {{ flow_run.state.type }}", loader)
    assert rendered == "brave-otter FAILED"
    assert loader.calls == [("flow-run", FLOW_RUN_ID)]
    assert await render("{{ deployment.parameters.n }}", loader) == "3"
    assert await render("[{{ work_pool }}]", loader) == "[None]"


async def test_no_event_means_no_objects() -> None:
    loader = RecordingLoader()
    context = await template_context(_without_event(), {"flow_run"}, loader)
    assert context["flow_run"] is None
    assert context["event"] is None
    assert loader.calls == []


def _without_event() -> ActionInvocation:
    base = invocation()
    return ActionInvocation(**{**base.__dict__, "triggering_event": None})


async def test_ui_url_is_a_filter_that_needs_a_base() -> None:
    loader = RecordingLoader()
    assert await render("{{ flow_run|ui_url }}", loader) == "None"
    assert await render("{{ flow_run|ui_url }}", loader, ui_base_url="https://ui.example/") == (
        f"https://ui.example/runs/flow-run/{FLOW_RUN_ID}"
    )
    assert await render("{{ event.related[0]|ui_url }}", loader, ui_base_url="https://u") == (
        f"https://u/deployments/deployment/{DEPLOYMENT_ID}"
    )
    assert await render("{{ event|ui_url }}", loader, ui_base_url="https://u") == (
        "https://u/events/event/2026-01-02/e1"
    )


async def test_the_renderer_compiles_each_template_once() -> None:
    renderer = ContextRenderer(None)
    source = "{{ event.event }}"
    for _ in range(3):
        assert await renderer.render_many(invocation(), [source]) == ["prefect.flow-run.Failed"]
    first = renderer.templates._compile(source)
    assert renderer.templates._compile(source) is first


async def test_a_lone_expression_keeps_its_json_type() -> None:
    context = await template_context(invocation(), {"event"})
    value = render_json_value(
        {
            "event": "{{ event }}",
            "attempt": "{{ event.payload.attempt }}",
            "text": "attempt {{ event.payload.attempt }}",
            "list": ["{{ event.resource.name }}", 5],
            "missing": "{{ nothing }}",
            "plain": "no template",
        },
        context,
        Templates(),
    )
    assert value["event"]["resource"]["prefect.resource.name"] == "brave-otter"
    assert value["event"]["related"][0]["prefect.resource.role"] == "deployment"
    assert value["attempt"] == 3
    assert value["text"] == "attempt 3"
    assert value["list"] == ["brave-otter", 5]
    assert value["missing"] is None
    assert value["plain"] == "no template"


async def test_template_limits_still_apply() -> None:
    context = await template_context(invocation(), set())
    with pytest.raises(TemplateProblem, match="too large"):
        render_json_value("{{ 'x' * 10**9 }}", context, Templates())
    assert Templates().render("[{{ ''.__class__ }}]", context) == "[]"


async def test_a_metric_firing_shows_its_value_as_metric() -> None:
    base = invocation()
    metric_firing = {**base.firing, "triggering_value": 0.75}
    metric_invocation = ActionInvocation(**{**base.__dict__, "firing": metric_firing})
    [rendered] = await ContextRenderer(None, "").render_many(
        metric_invocation, ["success rate {{ metric }}"]
    )
    assert rendered == "success rate 0.75"
    assert await render("[{{ metric }}]") == "[]"
