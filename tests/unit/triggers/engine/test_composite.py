"""Compound and sequence triggers: one case per behaviour of reference §4.3."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import pytest

from automations_triggers.model import CompoundTrigger, SequenceTrigger, Trigger

from .helpers import Batch, Runner, Step, Tick, automation, ev, event_trigger, summary

A, B, C = "a.happened", "b.happened", "c.happened"
TA = event_trigger("ta", expect=[A])
TB = event_trigger("tb", expect=[B])
TC = event_trigger("tc", expect=[C])


def compound(
    *children: Trigger,
    require: int | Literal["any", "all"] = "all",
    within: float | None = None,
    id: str = "parent",
) -> CompoundTrigger:
    limit = timedelta(seconds=within) if within is not None else None
    return CompoundTrigger(id=id, triggers=children, require=require, within=limit)


def sequence(
    *children: Trigger, within: float | None = None, id: str = "parent"
) -> SequenceTrigger:
    limit = timedelta(seconds=within) if within is not None else None
    return SequenceTrigger(id=id, triggers=children, within=limit)


CASES: list[Any] = [
    pytest.param(
        compound(TA, TB, require="any"),
        [ev(A, 0), ev(B, 1), ev(A, 2)],
        [("Triggered", f"{A}@0"), ("Triggered", f"{B}@1"), ("Triggered", f"{A}@2")],
        id="any-fires-on-every-child-firing",
    ),
    pytest.param(
        compound(TA, TB),
        [ev(A, 0), ev(B, 1)],
        [("Triggered", f"{B}@1")],
        id="all-fires-with-completing-childs-event",
    ),
    pytest.param(
        compound(TA, TB),
        [ev(A, 0), ev(B, 1), ev(B, 2), ev(A, 3)],
        [("Triggered", f"{B}@1"), ("Triggered", f"{A}@3")],
        id="all-resets-after-firing",
    ),
    pytest.param(
        compound(TA, TB),
        [ev(A, 0), ev(A, 1), ev(A, 2)],
        [],
        id="all-same-child-twice-is-one-child",
    ),
    pytest.param(
        compound(TA, TB, TC, require=2),
        [ev(A, 0), ev(C, 1), ev(B, 2)],
        [("Triggered", f"{C}@1")],
        id="require-n-of-m",
    ),
    pytest.param(
        compound(TA, TB, within=10),
        [ev(A, 0), ev(B, 20), ev(A, 25)],
        [("Triggered", f"{A}@25")],
        id="within-drops-child-firings-older-than-newest-minus-within",
    ),
    pytest.param(
        compound(TA, TB, within=10),
        [ev(A, 0), ev(B, 10)],
        [("Triggered", f"{B}@10")],
        id="within-boundary-is-inclusive",
    ),
    pytest.param(
        sequence(TA, TB),
        [ev(A, 0), ev(B, 1)],
        [("Triggered", f"{B}@1")],
        id="sequence-in-order-fires",
    ),
    pytest.param(
        sequence(TA, TB),
        [ev(B, 0), ev(A, 1)],
        [],
        id="sequence-out-of-order-does-not-fire",
    ),
    pytest.param(
        sequence(TA, TB),
        [ev(B, 0), ev(A, 1), ev(B, 2)],
        [("Triggered", f"{B}@2")],
        id="sequence-repaired-by-later-firing",
    ),
    pytest.param(
        sequence(TA, TB),
        [ev(A, 0), ev(B, 1), ev(B, 2)],
        [("Triggered", f"{B}@1")],
        id="sequence-resets-after-firing",
    ),
    pytest.param(
        sequence(TA, TB, TC),
        [ev(A, 0), ev(C, 1), ev(B, 2)],
        [],
        id="sequence-child-after-later-child-breaks-it",
    ),
    pytest.param(
        sequence(TA),
        [ev(A, 0), ev(A, 1)],
        [("Triggered", f"{A}@0"), ("Triggered", f"{A}@1")],
        id="single-child-sequence-fires-at-once",
    ),
    pytest.param(
        sequence(TA, TB, within=5),
        [ev(A, 0), ev(B, 6)],
        [],
        id="sequence-within",
    ),
    pytest.param(
        compound(TA, TB),
        [Batch([ev(A, 0), ev(B, 0)]), Batch([ev(A, 1), ev(B, 1)])],
        [("Triggered", f"{B}@0"), ("Triggered", f"{B}@1")],
        id="concurrent-children-in-one-batch-fire-once-and-are-not-lost",
    ),
    pytest.param(
        sequence(TA, TB),
        [Batch([ev(A, 0), ev(B, 0)])],
        [("Triggered", f"{B}@0")],
        id="sequence-in-one-batch-uses-processing-order",
    ),
    pytest.param(
        sequence(TA, TB),
        [Batch([ev(B, 0), ev(A, 0)])],
        [],
        id="sequence-reversed-in-one-batch-does-not-fire",
    ),
    pytest.param(
        compound(sequence(TA, TB, id="seq"), TC),
        [ev(C, 0), ev(B, 1), ev(A, 2), ev(B, 3)],
        [("Triggered", f"{B}@3")],
        id="nested-sequence-in-compound",
    ),
    pytest.param(
        sequence(compound(TA, TB, require="any", id="any"), TC),
        [ev(C, 0), ev(B, 1), ev(C, 2)],
        [("Triggered", f"{C}@2")],
        id="nested-compound-in-sequence",
    ),
    pytest.param(
        compound(event_trigger("quiet", expect=["q"], within=10, proactive=True), TA),
        [Tick(0), ev(A, 3), Tick(10)],
        [("Triggered", None)],
        id="proactive-child-feeds-parent-at-its-deadline",
    ),
    pytest.param(
        compound(
            event_trigger("quiet", expect=["q"], within=10, proactive=True),
            TA,
            require="any",
        ),
        [Tick(0), Tick(10), ev("q", 12)],
        [("Triggered", None)],
        id="child-resolution-does-not-reach-parent",
    ),
]


@pytest.mark.parametrize(("trigger", "steps", "expected"), CASES)
def test_composite(trigger: Trigger, steps: list[Step], expected: list[tuple[str, str]]):
    runner = Runner().load(automation(trigger))
    assert summary(runner.run(steps)) == expected


def test_parent_firing_fields():
    runner = Runner().load(automation(compound(TA, TB)))
    (firing,) = runner.run([ev(A, 0), ev(B, 1)])
    assert firing.trigger_id == "parent"
    assert firing.triggering_labels == {}
    assert [f.trigger_id for f in firing.triggering_firings] == ["ta", "tb"]
    assert [r for r in runner.engine.export_state() if r.kind != "seen"] == []


def test_child_firings_are_state_rows():
    runner = Runner().load(automation(compound(TA, TB)))
    runner.step(ev(A, 0))
    rows = runner.engine.export_state()
    assert [(r.kind, r.data["child_id"]) for r in rows if r.kind == "child_firing"] == [
        ("child_firing", "ta")
    ]
    assert sorted(runner.store) == sorted((r.kind, r.key) for r in rows)
