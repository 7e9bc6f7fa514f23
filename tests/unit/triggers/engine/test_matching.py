"""Prefect's matching rules (reference §2): tables of cases plus hypothesis properties."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automations_triggers.matching import (
    bucketing_key,
    covers,
    covers_name,
    expects,
    find_label,
    spec_matches,
    starts_after,
    value_matches,
)
from automations_triggers.model import ResourceSpecification

from .helpers import ev, event_trigger


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("abc", "abc", True),
        ("abc", "abcd", False),
        ("ab*", "abcd", True),
        ("ab*", "ab", True),
        ("*cd", "abcd", True),
        ("a*d", "abcd", True),
        ("a?cd", "abcd", True),
        ("a[bx]cd", "abcd", True),
        ("ABCD", "abcd", False),
        ("!abc", "abd", True),
        ("!abc", "abc", False),
        ("!ab*", "abc", False),
        ("abc", None, False),
        ("!abc", None, False),
        ("*", None, False),
        ("*", "", True),
    ],
)
def test_value_matches(pattern: str, value: str | None, expected: bool):
    assert value_matches(pattern, value) is expected


R = {"prefect.resource.id": "prefect.flow-run.1", "prefect.resource.name": "one", "x": "y"}

SPEC_CASES: list[Any] = [
    ({}, True),
    ({"prefect.resource.id": "prefect.flow-run.*"}, True),
    ({"prefect.resource.id": ["prefect.task-run.*", "prefect.flow-run.1"]}, True),
    ({"prefect.resource.id": []}, False),
    ({"prefect.resource.id": "prefect.flow-run.*", "x": "z"}, False),
    ({"prefect.resource.id": "prefect.flow-run.*", "x": "!z"}, True),
    ({"missing": "!anything"}, False),
]


@pytest.mark.parametrize(("spec", "expected"), SPEC_CASES)
def test_spec_matches(spec: dict[str, Any], expected: bool):
    assert spec_matches(ResourceSpecification.of(spec), R) is expected


TAG_DEV = {"prefect.resource.id": "prefect.tag.dev", "prefect.resource.role": "tag"}
TAG_PROD = {"prefect.resource.id": "prefect.tag.prod", "prefect.resource.role": "tag"}
FLOW = {"prefect.resource.id": "prefect.flow.f", "prefect.resource.role": "flow", "n": "1"}

RELATED_CASES: list[Any] = [
    pytest.param([], [], True, id="no-specs-no-related"),
    pytest.param([{}], [], True, id="empty-spec-no-related"),
    pytest.param([{"prefect.resource.role": "tag"}], [], False, id="spec-needs-a-related"),
    pytest.param([{"prefect.resource.id": "prefect.tag.dev"}], [TAG_DEV], True, id="one-spec"),
    pytest.param(
        [{"prefect.resource.role": "tag"}, {"prefect.resource.role": "flow"}],
        [TAG_DEV, FLOW],
        True,
        id="specs-satisfied-by-different-resources",
    ),
    pytest.param(
        [{"prefect.resource.role": "tag", "n": "1"}],
        [TAG_DEV, FLOW],
        False,
        id="labels-of-one-spec-on-the-same-resource",
    ),
    pytest.param(
        [{"prefect.resource.role": "tag", "prefect.resource.id": "!prefect.tag.dev"}],
        [TAG_DEV, TAG_PROD],
        True,
        id="negation-matches-any-other-tag",
    ),
    pytest.param(
        [{"prefect.resource.role": "tag", "prefect.resource.id": "!prefect.tag.dev"}],
        [TAG_DEV],
        False,
        id="negation-excludes-only-tag",
    ),
]


@pytest.mark.parametrize(("specs", "related", "expected"), RELATED_CASES)
def test_match_related(specs: list[dict[str, Any]], related: list[dict[str, str]], expected: bool):
    trigger = event_trigger(expect=["e"], match_related=specs)
    assert covers(trigger, ev("e", 0, related=related)) is expected


@pytest.mark.parametrize(
    ("expect", "after", "name", "covered", "expected", "arms"),
    [
        (["a.b"], [], "a.b", True, True, False),
        (["a.b"], [], "a.bc", False, False, False),
        (["a.*"], [], "a.", False, True, False),
        (["a.*"], [], "a.b.c", True, True, False),
        (["*.Completed"], [], "x.Completed", True, True, False),
        (["*.Completed"], [], "x.Completed.y", False, False, False),
        (["a?c"], [], "abc", False, True, False),
        (["a?c"], [], "a?c", True, True, False),
        ([], [], "anything", True, True, False),
        ([], [], "", False, True, False),
        (["b"], ["a"], "a", True, False, True),
        (["a"], ["a"], "a", True, True, True),
        ([], ["a"], "zzz", True, True, False),
    ],
)
def test_event_name_patterns(expect, after, name, covered, expected, arms):
    trigger = event_trigger(expect=expect, after=after)
    assert covers_name(trigger, name) is covered
    assert expects(trigger, name) is expected
    assert starts_after(trigger, name) is arms


def test_bucketing_key_and_related_label():
    related = [
        {"prefect.resource.id": "d1", "prefect.resource.role": "deployment"},
        {"prefect.resource.id": "f1", "prefect.resource.role": "flow"},
        {"prefect.resource.id": "f2", "prefect.resource.role": "flow"},
    ]
    event = ev("e", 0, "r1", related=related, labels={"z": "last"})
    trigger = event_trigger(for_each=["z", "related:flow:prefect.resource.id", "missing"])
    # Labels are sorted: "missing", "related:flow:...", "z".
    assert bucketing_key(trigger, event) == ("", "f1", "last")
    assert find_label(event, "related:nope:prefect.resource.id") is None
    assert bucketing_key(event_trigger(), event) == ()


# -- properties -------------------------------------------------------------------------

ALPHABET = "ab.-*?!"
labels = st.text("ab.", max_size=4)
patterns = st.text(ALPHABET, max_size=5)
resources = st.dictionaries(st.sampled_from(["k1", "k2", "k3"]), labels, max_size=3)
specs = st.dictionaries(
    st.sampled_from(["k1", "k2", "k3"]), st.lists(patterns, max_size=3), max_size=3
)


@given(patterns.filter(lambda p: not p.startswith("!")), labels)
def test_negation_is_complement_when_label_present(pattern: str, value: str):
    assert value_matches("!" + pattern, value) is not value_matches(pattern, value)


@given(patterns)
def test_missing_label_never_matches(pattern: str):
    assert value_matches(pattern, None) is False


@given(specs, resources)
def test_spec_is_and_of_keys_and_or_of_patterns(spec: dict[str, list[str]], resource):
    expected = all(
        any(value_matches(p, resource.get(k)) for p in values) for k, values in spec.items()
    )
    assert spec_matches(ResourceSpecification.of(spec), resource) is expected


@given(resources)
def test_empty_spec_matches_everything(resource):
    assert spec_matches(ResourceSpecification(), resource)


def _reference_name_match(pattern: str, name: str) -> bool:
    """Full string, `*` one or more characters, everything else literal."""
    parts = [re.escape(p) for p in pattern.split("*")]
    return re.fullmatch(".+".join(parts), name) is not None


@given(st.text("ab.*", max_size=5), st.text("ab.", min_size=1, max_size=6))
def test_event_name_star_means_one_or_more(pattern: str, name: str):
    trigger = event_trigger(expect=[pattern])
    assert covers_name(trigger, name) is _reference_name_match(pattern, name)


@given(st.text("ab.*", max_size=5), st.text("ab.", max_size=6))
def test_covered_expected_names_also_fnmatch(pattern: str, name: str):
    trigger = event_trigger(expect=[pattern])
    if covers_name(trigger, name):
        assert fnmatchcase(name, pattern)
        assert expects(trigger, name)
