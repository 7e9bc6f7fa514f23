"""Reactive event triggers: one case per behaviour of reference §3.3-§3.4."""

from __future__ import annotations

from typing import Any

import pytest

from automations_triggers.model import EventTrigger

from .helpers import Batch, Runner, Step, Tick, automation, ev, event_trigger, summary

T = "prefect.flow-run.Completed"
A = "prefect.flow-run.Running"
B = "prefect.flow-run.Completed"
HB = "prefect.flow-run.heartbeat"

CASES: list[Any] = [
    pytest.param(
        event_trigger(expect=[T]),
        [ev(T, 0), ev(T, 0.5), ev(T, 1)],
        [("Triggered", f"{T}@0"), ("Triggered", f"{T}@0.5"), ("Triggered", f"{T}@1")],
        id="within-0-threshold-1-every-event-fires",
    ),
    pytest.param(
        event_trigger(expect=[T], threshold=3),
        [ev(T, 0), ev(T, 1)],
        [],
        id="within-0-threshold-3-two-events-do-not-fire",
    ),
    pytest.param(
        event_trigger(expect=[T], threshold=3),
        [ev(T, 0), ev(T, 1), ev(T, 2), ev(T, 3), ev(T, 4), ev(T, 5)],
        [("Triggered", f"{T}@2"), ("Triggered", f"{T}@5")],
        id="within-0-threshold-3-counts-accumulate-and-fire-each-third",
    ),
    pytest.param(
        event_trigger(expect=[T], threshold=2),
        [ev(T, 0), Tick(61), ev(T, 70)],
        [],
        id="within-0-bucket-swept-60s-after-its-end",
    ),
    pytest.param(
        event_trigger(expect=[T], threshold=2),
        [ev(T, 0), Tick(59), ev(T, 59.5)],
        [("Triggered", f"{T}@59.5")],
        id="within-0-bucket-kept-inside-sweep-buffer",
    ),
    pytest.param(
        event_trigger(expect=[T], within=10),
        [ev(T, 0), ev(T, 1), ev(T, 9), ev(T, 12), ev(T, 19), ev(T, 21)],
        [("Triggered", f"{T}@0"), ("Triggered", f"{T}@12"), ("Triggered", f"{T}@21")],
        id="eager-debounce-at-most-one-firing-per-window",
    ),
    pytest.param(
        event_trigger(expect=[T], threshold=3, within=10),
        [ev(T, 0), ev(T, 1), ev(T, 2), ev(T, 3), ev(T, 4)],
        [("Triggered", f"{T}@2")],
        id="threshold-3-within-10-fires-once-for-3-events",
    ),
    pytest.param(
        event_trigger(expect=[T], threshold=3, within=10),
        [ev(T, 0), ev(T, 8), ev(T, 12), ev(T, 14)],
        [],
        id="windows-anchored-at-first-event-not-sliding",
    ),
    pytest.param(
        event_trigger(expect=[T], threshold=2, within=10),
        [ev(T, 0), ev(T, 11), ev(T, 15)],
        [("Triggered", f"{T}@15")],
        id="late-event-rolls-window-forward-and-is-recounted",
    ),
    pytest.param(
        event_trigger(expect=[T], threshold=2, within=10),
        [ev(T, 1000), ev(T, 1000 - 300)],
        [("Triggered", f"{T}@700")],
        id="first-window-back-dated-15-minutes-counts-earlier-events",
    ),
    pytest.param(
        event_trigger(expect=[T], threshold=2, within=10),
        [ev(T, 1000), ev(T, 1000 - 901)],
        [],
        id="event-older-than-bucket-start-ignored",
    ),
    pytest.param(
        event_trigger(expect=[T], within=10),
        [ev(T, 0), ev(T, 5)],
        [("Triggered", f"{T}@0")],
        id="event-inside-cool-down-ignored",
    ),
    pytest.param(
        event_trigger(after=[A], expect=[B], within=10),
        [ev(A, 0), ev(B, 5), ev(B, 6)],
        [("Triggered", f"{B}@5")],
        id="after-arms-a-window-that-fires-once",
    ),
    pytest.param(
        event_trigger(after=[A], expect=[B], within=10),
        [ev(A, 0), ev(B, 5), ev(A, 20), ev(B, 25)],
        [("Triggered", f"{B}@5"), ("Triggered", f"{B}@25")],
        id="after-event-re-arms",
    ),
    pytest.param(
        event_trigger(after=[A], expect=[B], within=10),
        [ev(B, 0), ev(B, 1)],
        [],
        id="expected-event-before-any-after-ignored",
    ),
    pytest.param(
        event_trigger(after=[A], expect=[B], within=10),
        [ev(A, 0), ev(B, 10), ev(B, 11)],
        [],
        id="expected-event-at-window-end-deletes-bucket-without-firing",
    ),
    pytest.param(
        event_trigger(after=[A], expect=[B], within=10),
        [ev(A, 0), ev(A, 8), ev(B, 12)],
        [],
        id="repeated-after-does-not-move-the-window",
    ),
    pytest.param(
        event_trigger(after=[A], expect=[B], threshold=2, within=10),
        [ev(A, 0), ev(A, 1), ev(B, 2)],
        [],
        id="after-only-events-do-not-count",
    ),
    pytest.param(
        event_trigger(after=[A], expect=[B]),
        [ev(A, 0), ev(B, 50)],
        [("Triggered", f"{B}@50")],
        id="after-with-within-0-counts-regardless-of-window",
    ),
    pytest.param(
        event_trigger(after=[HB], expect=[HB]),
        [ev(HB, 0), ev(HB, 1), ev(HB, 2)],
        [],
        id="same-event-in-after-and-expect-within-0-never-fires",
    ),
    pytest.param(
        event_trigger(after=[HB], expect=[HB], within=10),
        [ev(HB, 0), ev(HB, 1)],
        [("Triggered", f"{HB}@1")],
        id="same-event-in-after-and-expect-does-not-count-toward-itself",
    ),
    pytest.param(
        event_trigger(expect=["prefect.flow-run.*"], threshold=2, for_each=["prefect.resource.id"]),
        [ev(T, 0, "r1"), ev(T, 1, "r2"), ev(A, 2, "r1")],
        [("Triggered", f"{A}@2")],
        id="for-each-counts-per-key",
    ),
    pytest.param(
        event_trigger(expect=[T], threshold=2, for_each=["missing.label"]),
        [ev(T, 0, "r1"), ev(T, 1, "r2")],
        [("Triggered", f"{T}@1")],
        id="for-each-missing-label-shares-one-bucket",
    ),
    pytest.param(
        event_trigger(expect=[T], threshold=2, for_each=["related:flow:prefect.resource.id"]),
        [
            ev(
                T, 0, "r1", related=[{"prefect.resource.id": "f1", "prefect.resource.role": "flow"}]
            ),
            ev(
                T, 1, "r2", related=[{"prefect.resource.id": "f2", "prefect.resource.role": "flow"}]
            ),
            ev(
                T, 2, "r3", related=[{"prefect.resource.id": "f1", "prefect.resource.role": "flow"}]
            ),
        ],
        [("Triggered", f"{T}@2")],
        id="for-each-related-role-label",
    ),
    pytest.param(
        event_trigger(expect=[T], match={"prefect.resource.id": "r2"}),
        [ev(T, 0, "r1"), ev(T, 1, "r2")],
        [("Triggered", f"{T}@1")],
        id="match-filters-events",
    ),
    pytest.param(
        event_trigger(after=[A], expect=[B], match={"prefect.resource.id": "r2"}, within=10),
        [ev(A, 0, "r1"), ev(B, 1, "r2")],
        [],
        id="match-filters-after-events-too",
    ),
    pytest.param(
        event_trigger(expect=["prefect.flow-run.*"]),
        [ev("prefect.flow-run.", 0), ev("prefect.flow-run.X", 1)],
        [("Triggered", "prefect.flow-run.X@1")],
        id="star-matches-one-or-more-characters",
    ),
    pytest.param(
        event_trigger(expect=[T], threshold=2, within=10),
        [Batch([ev(T, 0), ev(T, 1)], now=30)],
        [("Triggered", f"{T}@1")],
        id="reactive-time-axis-is-occurred-not-wall-clock",
    ),
    pytest.param(
        event_trigger(expect=[]),
        [ev("anything", 0), ev("prefect.log.write", 1)],
        [("Triggered", "anything@0")],
        id="empty-expect-matches-any-event-but-log-writes",
    ),
]


@pytest.mark.parametrize(("trigger", "steps", "expected"), CASES)
def test_reactive(trigger: EventTrigger, steps: list[Step], expected: list[tuple[str, str]]):
    runner = Runner().load(automation(trigger))
    assert summary(runner.run(steps)) == expected


def test_firing_fields():
    trigger = event_trigger(expect=[T], for_each=["prefect.resource.id"])
    runner = Runner().load(automation(trigger))
    (firing,) = runner.step(Batch([ev(T, 0, "r9")], now=3))
    assert firing.trigger_id == "t"
    assert firing.automation_id == "a1"
    assert firing.triggering_labels == {"prefect.resource.id": "r9"}
    assert firing.triggered == ev(T, 3).occurred
    assert firing.triggering_firings == ()


def test_firing_ids_are_deterministic_and_distinct():
    def fire() -> list[str]:
        runner = Runner().load(automation(event_trigger(expect=[T])))
        events = [ev(T, 0, id="x1"), ev(T, 0, id="x2"), ev(T, 5, id="x3")]
        return [f.id for f in runner.run(events)]

    first, second = fire(), fire()
    assert first == second
    assert len(set(first)) == 3


def test_reactive_trigger_never_resolves():
    trigger = event_trigger(after=[A], expect=[B], within=10)
    runner = Runner().load(automation(trigger))
    runner.run([ev(A, 0), ev(B, 1), ev(B, 2), ev(A, 3), ev(B, 4)])
    assert {s for f in runner.firings for s in f.states} == {"Triggered"}
