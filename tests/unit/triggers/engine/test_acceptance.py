"""The issue's acceptance behaviours, on the pure engine with a controllable clock."""

from __future__ import annotations

from automations_triggers.model import SequenceTrigger

from .helpers import Runner, Tick, automation, ev, event_trigger, seconds, summary

RUNNING = "prefect.flow-run.Running"
COMPLETED = "prefect.flow-run.Completed"


def test_threshold_3_within_10s_fires_once_for_3_events():
    runner = Runner().load(automation(event_trigger(expect=["x"], threshold=3, within=10)))
    runner.run([ev("x", 0), ev("x", 1), ev("x", 2), ev("x", 3), ev("x", 4)])
    assert summary(runner.firings) == [("Triggered", "x@2")]


def test_threshold_3_within_10s_does_not_fire_for_2_events():
    runner = Runner().load(automation(event_trigger(expect=["x"], threshold=3, within=10)))
    runner.run([ev("x", 0), ev("x", 1), Tick(30)])
    assert runner.firings == []


def test_stuck_flow_run_fires_for_the_stuck_run_only_and_resolves_when_it_completes():
    trigger = event_trigger(
        after=[RUNNING],
        expect=[COMPLETED],
        for_each=["prefect.resource.id"],
        within=10,
        proactive=True,
    )
    runner = Runner().load(automation(trigger))
    runner.run(
        [
            ev(RUNNING, 0, "prefect.flow-run.stuck"),
            ev(RUNNING, 1, "prefect.flow-run.quick"),
            ev(COMPLETED, 4, "prefect.flow-run.quick"),
        ]
    )
    assert runner.engine.next_deadline() is not None
    deadline = seconds(runner.engine.next_deadline())  # type: ignore[arg-type]
    assert deadline == 10
    runner.step(Tick(9.999))
    assert runner.firings == []
    (triggered,) = runner.step(Tick(deadline))
    assert triggered.states == {"Triggered"}
    assert triggered.triggering_labels == {"prefect.resource.id": "prefect.flow-run.stuck"}
    assert seconds(triggered.triggered) == 10
    runner.step(Tick(60))
    (resolved,) = runner.step(ev(COMPLETED, 75, "prefect.flow-run.stuck"))
    assert resolved.states == {"Resolved"}
    assert resolved.triggering_labels == {"prefect.resource.id": "prefect.flow-run.stuck"}
    runner.run([ev(COMPLETED, 80, "prefect.flow-run.stuck"), Tick(200)])
    assert len(runner.firings) == 2


def _sequence() -> SequenceTrigger:
    return SequenceTrigger(
        id="seq", triggers=(event_trigger("a", expect=["A"]), event_trigger("b", expect=["B"]))
    )


def test_sequence_a_then_b_fires():
    runner = Runner().load(automation(_sequence()))
    runner.run([ev("A", 0), ev("B", 1)])
    assert summary(runner.firings) == [("Triggered", "B@1")]
    assert [f.trigger_id for f in runner.firings[0].triggering_firings] == ["a", "b"]


def test_sequence_b_then_a_does_not_fire():
    runner = Runner().load(automation(_sequence()))
    runner.run([ev("B", 0), ev("A", 1)])
    assert runner.firings == []
