"""The sandboxed template environment: Prefect's limits plus size and time caps."""

from __future__ import annotations

import pytest

from automations_common.templating import (
    TemplateLimits,
    TemplateProblem,
    Templates,
    referenced_names,
    render_template,
    validate_template,
)

ELEVEN_LOOPS = "".join("{% for i in [1] %}{% endfor %}" for _ in range(11))
THREE_DEEP = (
    "{% for a in [1] %}{% for b in [1] %}{% for c in [1] %}{% endfor %}{% endfor %}{% endfor %}"
)


def test_renders_with_context_and_unknown_names_render_empty() -> None:
    context = {"event": {"resource": {"id": "demo.1"}, "event": "demo.ping"}}
    assert (
        render_template("{{ event.resource.id }} {{ event.event }}", context) == "demo.1 demo.ping"
    )
    assert render_template("[{{ nothing.at.all }}]", {}) == "[]"


def test_plain_text_is_returned_as_is() -> None:
    assert render_template("no templates {here}", {}) == "no templates {here}"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ 'x' * 10**9 }}", "too large"),
        ("{{ 10 ** 1000 }}", "too large"),
        ("{% for i in range(1000) %}{% endfor %}", "range() is limited to 100"),
        ("{{ [].append(1) }}", "unsafe"),
        (ELEVEN_LOOPS, "11 for loops"),
        (THREE_DEEP, "nested 3 deep"),
        ("{{ event.id ", "line 1"),
    ],
)
def test_refused_templates_say_why(source: str, message: str) -> None:
    with pytest.raises(TemplateProblem, match=message.replace("(", r"\(").replace(")", r"\)")):
        render_template(source, {})


def test_unsafe_attributes_render_empty() -> None:
    assert render_template("[{{ ''.__class__ }}]", {}) == "[]"


def test_output_size_cap() -> None:
    limits = TemplateLimits(max_output_chars=100)
    with pytest.raises(TemplateProblem, match="longer than 100"):
        render_template("{% for i in range(50) %}abcdef{% endfor %}", {}, limits)


def test_validation_reports_the_line() -> None:
    with pytest.raises(TemplateProblem) as raised:
        validate_template("line one\n{{ broken ")
    assert raised.value.line == 2


def test_referenced_names_are_the_top_level_ones() -> None:
    assert referenced_names(
        "{{ flow_run.name }} {% for x in event.related %}{{ x }}{% endfor %}"
    ) == {
        "flow_run",
        "event",
    }


def test_extra_filters_are_available() -> None:
    templates = Templates(filters={"shout": lambda value: str(value).upper()})
    assert templates.render("{{ 'hi' | shout }}", {}) == "HI"


def test_compiled_templates_are_cached_and_bounded() -> None:
    templates = Templates(cache_size=2)
    for source in ("{{ a }}", "{{ b }}", "{{ c }}"):
        templates.render(source, {})
    assert len(templates._compiled) == 2
