"""The trigger index gives the same answer as scanning every trigger."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from automations_triggers.index import TriggerIndex
from automations_triggers.matching import covers, covers_name, exact_resource_ids
from automations_triggers.model import EventTrigger, ResourceSpecification

from .helpers import ev, event_trigger


def brute_force(triggers: dict[tuple[str, str], EventTrigger], event) -> set[tuple[str, str]]:
    return {ref for ref, t in triggers.items() if covers(t, event)}


def indexed(index: TriggerIndex, event) -> set[tuple[str, str]]:
    return {ref for ref in index.candidates(event) if covers(index.trigger(ref), event)}


def test_kinds_of_patterns():
    index = TriggerIndex()
    index.add("a", event_trigger("exact", expect=["x.y"]))
    index.add("a", event_trigger("prefix", expect=["x.*"]))
    index.add("a", event_trigger("glob", expect=["*.y"]))
    index.add("a", event_trigger("all"))
    index.add("a", event_trigger("pinned", expect=["x.y"], match={"prefect.resource.id": "r2"}))
    assert {t for _, t in index.candidates(ev("x.y", 0, "r1"))} == {
        "exact",
        "prefix",
        "glob",
        "all",
    }
    assert {t for _, t in index.candidates(ev("x.y", 0, "r2"))} == {
        "exact",
        "prefix",
        "glob",
        "all",
        "pinned",
    }
    assert {t for _, t in index.candidates(ev("x.", 0))} == {"all"}
    assert {t for _, t in index.candidates(ev("z", 0))} == {"all"}


def test_remove_and_replace():
    index = TriggerIndex()
    index.add("a", event_trigger("t", expect=["x.*"]))
    index.add("a", event_trigger("t", expect=["y"]))
    assert index.candidates(ev("x.1", 0)) == set()
    assert index.candidates(ev("y", 0)) == {("a", "t")}
    index.remove("a", "t")
    index.remove("a", "t")
    assert index.candidates(ev("y", 0)) == set()
    assert len(index) == 0


def test_pinning_only_for_exact_positive_ids():
    pinned = exact_resource_ids(ResourceSpecification.of({"prefect.resource.id": ["a", "b"]}))
    assert pinned == frozenset({"a", "b"})
    assert exact_resource_ids(ResourceSpecification.of({"prefect.resource.id": "a*"})) is None
    assert exact_resource_ids(ResourceSpecification.of({"prefect.resource.id": "!a"})) is None
    assert exact_resource_ids(ResourceSpecification.of({"other": "a"})) is None


NAMES = st.text("ab.", min_size=0, max_size=4)
PATTERNS = st.text("ab.*?", max_size=4)
RIDS = st.sampled_from(["r1", "r2", "r*", "!r1"])

triggers = st.builds(
    lambda expect, after, rids: event_trigger(
        expect=expect,
        after=after,
        match={"prefect.resource.id": rids} if rids else None,
    ),
    st.lists(PATTERNS, max_size=3),
    st.lists(PATTERNS, max_size=2),
    st.lists(RIDS, max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(triggers, max_size=8),
    st.lists(st.integers(0, 7), max_size=4),
    st.lists(st.tuples(NAMES, st.sampled_from(["r1", "r2", "r3"])), min_size=1, max_size=6),
)
def test_index_equals_brute_force(trigger_list, removals, events):
    index = TriggerIndex()
    known: dict[tuple[str, str], EventTrigger] = {}
    for i, trigger in enumerate(trigger_list):
        t = EventTrigger(
            id=f"t{i}",
            posture=trigger.posture,
            match=trigger.match,
            after=trigger.after,
            expect=trigger.expect,
        )
        index.add(f"a{i % 3}", t)
        known[(f"a{i % 3}", t.id)] = t
    for i in removals:
        index.remove(f"a{i % 3}", f"t{i}")
        known.pop((f"a{i % 3}", f"t{i}"), None)
    for name, rid in events:
        event = ev(name, 0, rid)
        assert indexed(index, event) == brute_force(known, event)
        # The index's own answer is exactly the name stage plus the resource-id pin.
        for ref in index.candidates(event):
            assert covers_name(index.trigger(ref), name)


def test_globs_are_checked_only_under_their_literal_head():
    index = TriggerIndex()
    index.add("a", event_trigger("g1", expect=["acme.batch.1.*.failed"]))
    index.add("a", event_trigger("g2", expect=["acme.batch.2.*.failed"]))
    index.add("a", event_trigger("lead", expect=["*.failed"]))
    assert {t for _, t in index.candidates(ev("acme.batch.1.x.failed", 0))} == {"g1", "lead"}
    assert {t for _, t in index.candidates(ev("acme.batch.3.x.failed", 0))} == {"lead"}
    assert {t for _, t in index.candidates(ev("acme.batch.1.x.ok", 0))} == set()
    index.remove("a", "g1")
    index.remove("a", "lead")
    assert index.candidates(ev("acme.batch.1.x.failed", 0)) == set()
    assert {t for _, t in index.candidates(ev("acme.batch.2.x.failed", 0))} == {"g2"}
