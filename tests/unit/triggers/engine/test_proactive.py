"""Proactive event triggers: reference §3.5, with DESIGN §4's Resolved and precise deadlines."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from automations_triggers.engine import DUE_NOW, Engine
from automations_triggers.model import EventTrigger

from .helpers import Batch, Runner, Step, Tick, at, automation, ev, event_trigger, summary

RUN = "prefect.flow-run.Running"
DONE = "prefect.flow-run.Completed"
HB = "prefect.flow-run.heartbeat"
X = "x.happened"

EACH = ["prefect.resource.id"]
DAY = 86400.0

CASES: list[Any] = [
    pytest.param(
        event_trigger(expect=[X], within=10, proactive=True),
        [Tick(0), Tick(9.9), Tick(10), Tick(19), Tick(20)],
        [("Triggered", None), ("Triggered", None)],
        id="global-bucket-fires-at-end-and-re-fires-every-within",
    ),
    pytest.param(
        event_trigger(expect=[X], within=10, proactive=True),
        [Tick(0), ev(X, 5), Tick(10), Tick(14.9), Tick(15)],
        [("Triggered", None)],
        id="global-bucket-restarts-when-expectation-met",
    ),
    pytest.param(
        event_trigger(expect=[X], within=10, proactive=True),
        [Tick(0), Tick(10), Tick(20), ev(X, 25), ev(X, 26), Tick(35.9), Tick(36)],
        [("Triggered", None), ("Triggered", None), ("Resolved", f"{X}@25"), ("Triggered", None)],
        id="global-bucket-resolves-once-on-expected-event",
    ),
    pytest.param(
        event_trigger(expect=[X], within=10, threshold=0, proactive=True),
        [Tick(0), Tick(10), Tick(20)],
        [],
        id="threshold-0-never-fires",
    ),
    pytest.param(
        event_trigger(expect=[X], within=10, threshold=2, proactive=True),
        [Tick(0), ev(X, 3), Tick(10)],
        [("Triggered", f"{X}@3")],
        id="fires-when-fewer-than-threshold-arrive",
    ),
    pytest.param(
        event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True),
        [ev(RUN, 0, "r1"), ev(RUN, 1, "r2"), ev(DONE, 4, "r2"), Tick(10), Tick(11), Tick(30)],
        [("Triggered", f"{RUN}@0")],
        id="after-for-each-fires-once-per-after-event-and-key",
    ),
    pytest.param(
        event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True),
        [ev(RUN, 0), Tick(10), ev(DONE, 20), ev(DONE, 21)],
        [("Triggered", f"{RUN}@0"), ("Resolved", f"{DONE}@20")],
        id="after-for-each-resolves-once-when-expected-event-arrives",
    ),
    pytest.param(
        event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True),
        [ev(RUN, 0), Tick(10), Tick(10 + 7 * DAY), ev(DONE, 10 + 7 * DAY + 1)],
        [("Triggered", f"{RUN}@0")],
        id="fired-key-forgotten-after-7-days-without-resolution",
    ),
    pytest.param(
        event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True),
        [ev(RUN, 5), Tick(15), ev(DONE, 4)],
        [("Triggered", f"{RUN}@5")],
        id="expected-event-older-than-fired-window-does-not-resolve",
    ),
    pytest.param(
        event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True),
        [ev(RUN, 0), Tick(10), ev(RUN, 30), ev(DONE, 35), Tick(40)],
        [("Triggered", f"{RUN}@0"), ("Resolved", f"{DONE}@35")],
        id="re-armed-key-still-resolves-and-is-met",
    ),
    pytest.param(
        event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True),
        [ev(RUN, 0), ev(DONE, 12)],
        [("Triggered", f"{DONE}@12"), ("Resolved", f"{DONE}@12")],
        id="late-expected-event-fires-on-reactive-path-then-resolves",
    ),
    pytest.param(
        event_trigger(expect=[X], for_each=EACH, within=10, proactive=True),
        [ev(X, 0), Tick(10), Tick(20), Tick(30)],
        [],
        id="for-each-without-after-threshold-1-key-never-fires",
    ),
    pytest.param(
        event_trigger(expect=[X], for_each=EACH, threshold=2, within=10, proactive=True),
        [ev(X, 0), Tick(10), Tick(20), ev(X, 21), Tick(30)],
        [
            ("Triggered", f"{X}@0"),
            ("Triggered", f"{X}@0"),
            ("Resolved", f"{X}@21"),
            ("Triggered", f"{X}@21"),
        ],
        id="for-each-without-after-re-alerts-every-within",
    ),
    pytest.param(
        event_trigger(after=[HB], expect=[HB], for_each=EACH, within=10, proactive=True),
        [ev(HB, 0), ev(HB, 5), Tick(14.9), Tick(15), ev(HB, 30), Tick(39), ev(HB, 39.5)],
        [("Triggered", f"{HB}@5"), ("Resolved", f"{HB}@30")],
        id="heartbeat-same-event-in-after-and-expect-restarts-window",
    ),
    pytest.param(
        event_trigger(after=[RUN], expect=[DONE], within=10, proactive=True),
        [Tick(0), Tick(10), Tick(100)],
        [],
        id="after-without-for-each-is-not-armed-without-after-event",
    ),
    pytest.param(
        event_trigger(after=[RUN], expect=[DONE], within=10, proactive=True),
        [ev(RUN, 0), Tick(10), Tick(20)],
        [("Triggered", f"{RUN}@0")],
        id="after-without-for-each-fires-once-per-after-event",
    ),
    pytest.param(
        event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True),
        [Batch([ev(RUN, 0)], now=5), Tick(14.9), Tick(15)],
        [("Triggered", f"{RUN}@0")],
        id="deadline-shifted-by-events-clock-lag",
    ),
    pytest.param(
        event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True),
        [Batch([ev(RUN, 0, received=0)], now=5), Tick(14.9), Tick(15)],
        [("Triggered", f"{RUN}@0")],
        id="lag-measured-from-received-when-present",
    ),
    pytest.param(
        event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True),
        [ev(RUN, 0), Batch([ev("other", -3600, received=1)], now=1), Tick(10)],
        [("Triggered", f"{RUN}@0")],
        id="late-reported-event-does-not-stall-deadlines",
    ),
    pytest.param(
        event_trigger(expect=[X], within=0, proactive=True),
        [Tick(0), Tick(9), Tick(10)],
        [("Triggered", None)],
        id="within-0-is-coerced-to-10-seconds",
    ),
]


@pytest.mark.parametrize(("trigger", "steps", "expected"), CASES)
def test_proactive(trigger: EventTrigger, steps: list[Step], expected: list[tuple[str, str]]):
    runner = Runner().load(automation(trigger))
    assert summary(runner.run(steps)) == expected


def test_deadline_is_lag_shifted_and_firing_stamped_with_wall_clock():
    trigger = event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True)
    runner = Runner().load(automation(trigger))
    runner.step(Batch([ev(RUN, 0)], now=5))
    assert runner.engine.offset.total_seconds() == -5
    assert runner.engine.next_deadline() == at(15)
    (firing,) = runner.step(Tick(15))
    assert firing.triggered == at(15)
    assert firing.triggering_labels == {"prefect.resource.id": "r1"}


def test_next_deadline_is_exact_earliest_bucket_end():
    engine = Engine()
    assert engine.next_deadline() is None
    trigger = event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True)
    engine.load([automation(trigger)])
    assert engine.next_deadline() is None
    engine.process([ev(RUN, 3, "r1"), ev(RUN, 1, "r2")], at(3))
    assert engine.next_deadline() == at(11 + 2)  # r2 ends at 11, lag is 2 s (occurred 1, now 3)
    engine.process([ev(DONE, 4, "r2")], at(4))
    assert engine.next_deadline() == at(13)  # r1 ends at 13, lag 0


def test_global_proactive_bucket_needs_due_call_at_once():
    engine = Engine()
    engine.load([automation(event_trigger(expect=[X], within=10, proactive=True))])
    assert engine.next_deadline() == DUE_NOW
    engine.due(at(0))
    assert engine.next_deadline() == at(10)


def test_resolved_firing_carries_labels_and_deterministic_id():
    trigger = event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True)
    ids = []
    for _ in range(2):
        runner = Runner().load(automation(trigger))
        runner.run([ev(RUN, 0, id="run"), Tick(10), ev(DONE, 20, id="done")])
        triggered, resolved = runner.firings
        assert resolved.states == {"Resolved"}
        assert resolved.triggering_labels == {"prefect.resource.id": "r1"}
        assert resolved.id != triggered.id
        ids.append((triggered.id, resolved.id))
    assert ids[0] == ids[1]


def test_caught_up_stream_clears_the_events_clock_lag():
    engine = Engine()
    engine.load([automation(event_trigger(expect=["hb"], within=10, proactive=True))])
    engine.process([ev("other", 0, received=0)], at(5))
    assert engine.offset == timedelta(seconds=-5)
    engine.caught_up()
    assert engine.offset == timedelta(0)


def test_own_automation_events_do_not_move_the_events_clock():
    """A burst of our own state-change events read back late is not producer lag: it must
    not postpone the next proactive deadlines (README "Events clock")."""
    engine = Engine()
    trigger = event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True)
    engine.load([automation(trigger)])
    engine.process([ev(RUN, 0, "r1", received=0)], at(0))
    assert engine.next_deadline() == at(10)
    engine.process(
        [
            ev("prefect.automation.triggered", 1, "prefect.automation.a", received=1),
            ev("prefect.automation.action.executed", 1, "prefect.automation.a", received=1),
        ],
        at(6),
    )
    assert engine.offset == timedelta(0)
    assert engine.next_deadline() == at(10)
    engine.process([ev("producer.event", 2, "p1", received=2)], at(6))
    assert engine.offset == timedelta(seconds=-4)


def test_due_with_a_limit_fires_the_rest_on_the_next_call():
    """The runner fires deadlines in chunks: what a limited call leaves stays due."""
    engine = Engine()
    trigger = event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True)
    engine.load([automation(trigger)])
    engine.process([ev(RUN, 0, f"r{i}", received=0) for i in range(5)], at(0))
    first = engine.due(at(10), limit=2)
    assert len(first.firings) == 2
    assert engine.next_deadline() == at(10)  # still due: the runner calls again at once
    rest = engine.due(at(10), limit=2), engine.due(at(10), limit=2)
    assert [len(r.firings) for r in rest] == [2, 1]
    fired = {f.triggering_labels["prefect.resource.id"] for r in (first, *rest) for f in r.firings}
    assert fired == {f"r{i}" for i in range(5)}
    deadline = engine.next_deadline()
    assert deadline is None or deadline > at(10)
