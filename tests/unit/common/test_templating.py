"""The sandboxed template environment: Prefect's limits plus size and time caps."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime

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
        ("{{ 'abc'|truncate(1, false, '...') }}", "AssertionError"),
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


# Each of these once built its whole result before the output checks could run.
HUGE = "999999999"
REFUSED_BEFORE_BUILDING = {
    "percent-width": f'{{{{ "%0{HUGE}d" % 1 }}}}',
    "percent-precision": f'{{{{ "%.{HUGE}f" % 1.0 }}}}',
    "percent-star-width": f'{{{{ "%*d" % ({HUGE}, 1) }}}}',
    "percent-star-precision": f'{{{{ "%.*f" % ({HUGE}, 1.0) }}}}',
    "percent-mapping-key": f'{{{{ "%(a)0{HUGE}d" % {{"a": 1}} }}}}',
    "percent-key-with-parens": f'{{{{ "%(a(b)){HUGE}s" % {{"a(b)": 1}} }}}}',
    "percent-on-bytes": f'{{{{ ("%0{HUGE}d".encode() % 1)|length }}}}',
    "percent-many-fields": '{{ ("%s" * 1000) % (("x" * 1000000,) * 1000) }}',
    "format-filter": f'{{{{ "%0{HUGE}d"|format(1) }}}}',
    "format-filter-keywords": f'{{{{ "%(a){HUGE}s"|format(a=1) }}}}',
    "str-format-width": f'{{{{ "{{:0{HUGE}d}}".format(1) }}}}',
    "str-format-align": f'{{{{ "{{0:>{HUGE}}}".format(1) }}}}',
    "str-format-nested-width": f'{{{{ "{{0:>{{1}}}}".format(1, {HUGE}) }}}}',
    "str-format-precision": f'{{{{ "{{:,.{HUGE}f}}".format(1.5) }}}}',
    "str-format-map": f'{{{{ "{{a:>{HUGE}}}".format_map({{"a": 1}}) }}}}',
    "str-format-on-markup": f'{{{{ ("{{:>{HUGE}}}"|safe).format(1) }}}}',
    "str-format-repeated-field": '{{ ("{0}" * 1000).format("x" * 1000000) }}',
    "center": f'{{{{ "x".center({HUGE}) }}}}',
    "ljust": f'{{{{ "x".ljust({HUGE}) }}}}',
    "rjust": f'{{{{ "x".rjust({HUGE}) }}}}',
    "zfill": f'{{{{ "x".zfill({HUGE}) }}}}',
    "expandtabs": f'{{{{ "\\t".expandtabs({HUGE}) }}}}',
    "bytes-center": f'{{{{ "x".encode().center({HUGE})|length }}}}',
    "method-through-attr": f'{{{{ ("x"|attr("center"))({HUGE}) }}}}',
    "replace": '{{ ("x" * 1000000).replace("x", "y" * 1000)|length }}',
    "join": '{{ ("y" * 1000).join("x" * 1000000)|length }}',
    "translate": '{{ ("x" * 100000).translate({120: "y" * 10000})|length }}',
    "to-bytes": f'{{{{ (1).to_bytes({HUGE}, "big")|length }}}}',
    "center-filter": f'{{{{ "x"|center({HUGE}) }}}}',
    "center-filter-through-map": f'{{{{ ["x"]|map("center", {HUGE})|list }}}}',
    "indent-filter": f'{{{{ "a\\nb"|indent({HUGE}) }}}}',
    "indent-filter-string": '{{ ("a\\n" * 1000)|indent("x" * 1000) }}',
    "replace-filter": '{{ ("x" * 1000000)|replace("x", "y" * 1000)|length }}',
    "join-filter": '{{ ("x" * 1000000)|join("y" * 1000)|length }}',
    "join-filter-attribute": '{{ ([{"a": "x" * 1000}] * 1000)|join("y", attribute="a") }}',
    "wordwrap-filter": '{{ ("x " * 100000)|wordwrap(1, true, "y" * 1000)|length }}',
    "urlize-filter": '{{ ("http://a.b " * 90000)|urlize(target="x" * 10000)|length }}',
    "tojson-indent": f"{{{{ [[[[1]]]]|tojson({HUGE})|length }}}}",
    "batch-filter": f"{{{{ [1]|batch({HUGE}, 0)|list|length }}}}",
    "slice-filter": f"{{{{ [1]|slice({HUGE})|list|length }}}}",
    "lipsum": "{{ lipsum(200000)|length }}",
    "list-of-one-big-string": '{{ (["x" * 1000000] * 1000)|length }}',
    "concat-doubling": (
        '{% set a = "x" * 1000000 %}{% set a = a ~ a %}{% set a = a ~ a %}{{ a|length }}'
    ),
    "plus-doubling": '{% set a = "x" * 1000000 %}{% set a = a + a %}{{ a|length }}',
    "list-plus-doubling": "{% set a = [0] * 400000 %}{% set a = a + a %}{{ a|length }}",
    "macro-output": (
        "{% macro m(x) %}{{ x }}{{ x }}{{ x }}{% endmacro %}"
        '{% set a = m(m("x" * 1000000)) %}{{ a|length }}'
    ),
    "set-block-in-loops": (
        "{% set a %}{% for i in range(100) %}{% for j in range(100) %}"
        '{{ "x" * 100000 }}{% endfor %}{% endfor %}{% endset %}{{ a|length }}'
    ),
    "nested-list-as-text": (
        '{% set a = ["x" * 1000000] %}{% set a = [a, a, a] %}{{ a|string|length }}'
    ),
    "nested-list-as-json": '{% set a = ["x" * 1000000] %}{% set a = [a, a] %}{{ a|tojson }}',
    "nested-list-upper": '{% set a = ["x" * 1000000] %}{% set a = [a, a] %}{{ a|upper }}',
    "namespace-repeated": '{% set ns = namespace(a="x" * 1000000) %}{{ [ns, ns] }}',
}


@pytest.mark.parametrize("source", REFUSED_BEFORE_BUILDING.values(), ids=REFUSED_BEFORE_BUILDING)
def test_operations_with_huge_results_are_refused(source: str) -> None:
    with pytest.raises(TemplateProblem, match=r"too large|longer than"):
        render_template(source, {})


@pytest.mark.parametrize(
    "source",
    [
        "{{ fmt % 1 }}",
        "{{ fmt|format(1) }}",
        "{{ spec.format(a=1) }}",
        '{{ spec.format_map({"a": 1}) }}',
        "{{ (spec|safe).format(a=1) }}",
        '{{ "%*d" % (n, 1) }}',
        '{{ "x".center(n) }}',
        '{{ "x".encode().zfill(n)|length }}',
        '{{ (1).to_bytes(n, "big")|length }}',
        '{{ "x"|center(n) }}',
        '{{ "a"|indent(n, true) }}',
        "{{ [[1]]|tojson(n) }}",
        "{{ [1]|batch(n, 0)|list|length }}",
        "{{ [1]|slice(n)|list|length }}",
        "{{ lipsum(n)|length }}",
    ],
)
def test_sizes_computed_at_render_time_are_refused(source: str) -> None:
    validate_template(source)  # nothing to see before the values are known
    context = {"n": int(HUGE), "fmt": f"%0{HUGE}d", "spec": f"{{a:>{HUGE}}}"}
    with pytest.raises(TemplateProblem, match=r"not allowed: .* would be too large"):
        render_template(source, context)


@pytest.mark.parametrize(
    "source",
    [
        '{{ "%050000000d" % 1 }}',
        '{{ "%050000000d"|format(1) }}',
        '{{ "{:>50000000}".format(1) }}',
        '{{ "x".center(50000000) }}',
        '{{ "x"|center(50000000) }}',
    ],
)
def test_refusal_comes_before_the_memory_is_taken(source: str) -> None:
    # Unguarded, each of these takes 50 MB or more (even just to validate: Jinja folds
    # constant expressions when it compiles).
    tracemalloc.start()
    try:
        with pytest.raises(TemplateProblem, match="too large"):
            render_template(source, {}, TemplateLimits(max_output_chars=1000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_huge_integers_are_refused() -> None:
    squarings = "{% set n = n * n %}" * 5
    with pytest.raises(TemplateProblem, match=r"result of \* would be too large"):
        render_template("{% set n = 10 ** 50 %}" + squarings + "{{ n }}", {})
    with pytest.raises(TemplateProblem, match="precision is limited"):
        render_template("{{ 5|round(-100000000) }}", {})
    assert render_template("{{ 10 ** 50 * 10 ** 50 == 10 ** 100 }}", {}) == "True"


@pytest.mark.parametrize(
    "source",
    [
        REFUSED_BEFORE_BUILDING["percent-width"],
        REFUSED_BEFORE_BUILDING["percent-mapping-key"],
        REFUSED_BEFORE_BUILDING["format-filter"],
        REFUSED_BEFORE_BUILDING["str-format-width"],
        REFUSED_BEFORE_BUILDING["center"],
        REFUSED_BEFORE_BUILDING["to-bytes"],
        REFUSED_BEFORE_BUILDING["center-filter"],
        REFUSED_BEFORE_BUILDING["batch-filter"],
        "{{ 'x' * 1000001 }}",
    ],
)
def test_validation_refuses_literal_cases(source: str) -> None:
    with pytest.raises(TemplateProblem, match=r"line 1: not allowed: .*too large"):
        validate_template(source)


def test_validation_leaves_computed_sizes_to_rendering() -> None:
    source = '{{ "%0*d" % (width, 1) }}'
    validate_template(source)
    with pytest.raises(TemplateProblem, match="too large"):
        render_template(source, {"width": 10**9})


CONTEXT = {
    "users": [{"name": "ann"}, {"name": "bob"}],
    "when": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
    "big": "y" * 900_000,
}
NORMAL_USES = {
    '{{ "%05d" % 7 }}': "00007",
    '{{ "%.2f" % 3.14159 }}': "3.14",
    '{{ "%s-%s" % ("a", "b") }}': "a-b",
    '{{ "%(a)s" % {"a": 1} }}': "1",
    '{{ "%d%%" % 50 }}': "50%",
    '{{ "%-*d|" % (4, 7) }}': "7   |",
    "{{ 10 % 3 }}": "1",
    '{{ "{:>10}".format("x") }}': "         x",
    '{{ "{:0=+8.3f}".format(3.14159) }}': "+003.142",
    '{{ "{:,}".format(1234567) }}': "1,234,567",
    '{{ "{0:>{1}}".format("x", 3) }}': "  x",
    '{{ "{a}".format_map({"a": 1}) }}': "1",
    '{{ "{:%Y-%m-%d}".format(when) }}': "2024-05-01",
    '{{ "%05d"|format(7) }}': "00007",
    '{{ "%(n)s!"|format(n=3) }}': "3!",
    '{{ "x".center(5) }}': "  x  ",
    '{{ "7".zfill(3) }}': "007",
    '{{ "a".ljust(3) }}|': "a  |",
    '{{ "a\\tb".expandtabs(4) }}': "a   b",
    '{{ "a-b".replace("-", "+") }}': "a+b",
    '{{ ", ".join(["a", "b"]) }}': "a, b",
    '{{ "abc".translate({97: "x"}) }}': "xbc",
    '{{ (65).to_bytes(1, "big") }}': "b'A'",
    '{{ users|join(", ", attribute="name") }}': "ann, bob",
    '{{ users|map(attribute="name")|join("/") }}': "ann/bob",
    '{{ "hi"|center(6) }}': "  hi  ",
    '{{ "a\\nb"|indent(2, true) }}': "  a\n  b",
    '{{ "ab"|replace("a", "x") }}': "xb",
    '{{ "a b c"|wordwrap(1) }}': "a\nb\nc",
    '{{ {"a": [1]}|tojson(2) }}': '{\n  "a": [\n    1\n  ]\n}',
    "{{ [1, 2, 3]|batch(2, 0)|list }}": "[[1, 2], [3, 0]]",
    "{{ [1, 2, 3]|slice(2)|list }}": "[[1, 2], [3]]",
    "{{ 3.14159|round(2) }}": "3.14",
    "{{ lipsum(1, false, 5, 10)|length > 0 }}": "True",
    '{{ "x" * 3 }}{{ [1] * 2 }}{{ 6 * 7 }}': "xxx[1, 1]42",
    '{{ "a" ~ "b" ~ 1 }}{{ "c" + "d" }}{{ [1] + [2] }}': "ab1cd[1, 2]",
    "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(1) }}{{ m(2) }}": "<1><2>",
    "{% set a %}{% for i in range(3) %}{{ i }}{% endfor %}{% endset %}{{ a }}": "012",
    "{{ (big ~ 'x')|length }} {{ ('%s' % big)|length }} {{ big|upper|length }}": (
        "900001 900000 900000"
    ),
    "{{ ('x' * 1000000)|length }}": "1000000",
}


@pytest.mark.parametrize(("source", "expected"), NORMAL_USES.items(), ids=list(NORMAL_USES))
def test_normal_formatting_padding_and_joining_still_work(source: str, expected: str) -> None:
    validate_template(source)
    assert render_template(source, CONTEXT) == expected


def test_deep_nesting_is_a_template_problem() -> None:
    with pytest.raises(TemplateProblem, match="nests too deeply"):
        validate_template("{{ 'x'" + "|upper" * 2000 + " }}")
    with pytest.raises(TemplateProblem, match="nests too deeply"):
        render_template("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", {})
