"""The issue's metric acceptance: a success rate below 0.8 for `firing_for` triggers once and
resolves once after recovery; a dip shorter than `firing_for` does nothing."""

from __future__ import annotations

import pytest

from automations_triggers.model import Event

from .helpers import Runner, Tick, at, flow_run, lifecycle, metric_trigger, summary, ticks

SUCCESS = ("Pending", "Running", "Completed")
FAILURE = ("Pending", "Running", "Failed")


def successes(first: int, count: int, t: float) -> list[Event]:
    return [e for i in range(count) for e in lifecycle(f"ok{first + i}", t + i, *SUCCESS)]


def failures(first: int, count: int, t: float) -> list[Event]:
    return [e for i in range(count) for e in lifecycle(f"bad{first + i}", t + i, *FAILURE)]


def test_success_rate_below_threshold_triggers_once_and_resolves_once_after_recovery():
    runner = Runner([metric_trigger("successes", "<", 0.8, range=3600, firing_for=300)])
    runner.run(successes(0, 5, 0))
    assert runner.value() == 1.0
    # Failed at 102 (5/6) and 103: 5/7 ≈ 0.714 < 0.8 from 103 on.
    runner.run(failures(0, 2, 100))
    assert runner.value() == pytest.approx(5 / 7)
    assert runner.evaluation.next_deadline() == at(403)
    runner.run(ticks(110, 402, 1))
    assert runner.firings == []
    (triggered,) = runner.step(Tick(403))
    assert summary([triggered]) == [("Triggered", 403, 5 / 7)]
    runner.run(ticks(410, 500, 10))
    # Recovery: Completed at 502..506; 8/10 = 0.8 (not < 0.8) from 504 on.
    runner.run(successes(5, 5, 500))
    assert runner.value() == pytest.approx(10 / 12)
    assert runner.evaluation.next_deadline() == at(804)
    runner.run(ticks(510, 803, 1))
    assert len(runner.firings) == 1
    (resolved,) = runner.step(Tick(804))
    assert summary([resolved]) == [("Resolved", 804, 10 / 12)]
    runner.run(ticks(810, 3000, 30))
    assert len(runner.firings) == 2


def test_a_dip_shorter_than_firing_for_does_nothing():
    runner = Runner([metric_trigger("successes", "<", 0.8, range=3600, firing_for=300)])
    runner.run(successes(0, 5, 0))
    runner.run(failures(0, 2, 100))
    runner.run(ticks(110, 300, 10))
    runner.run(successes(5, 5, 300))  # back to 10/12 before 402
    runner.run(ticks(310, 3000, 10))
    assert runner.firings == []


def test_a_recovery_shorter_than_firing_for_does_not_resolve():
    runner = Runner([metric_trigger("successes", "<", 0.8, range=3600, firing_for=300)])
    runner.run([*successes(0, 5, 0), *failures(0, 2, 100), Tick(403)])
    assert len(runner.firings) == 1
    runner.run(successes(5, 5, 500))  # 8/10 at 504: recovering
    runner.run(ticks(510, 700, 10))
    runner.run(failures(2, 4, 700))  # 10/13 at 702: breached again before 804
    runner.run(ticks(710, 2000, 10))
    assert [next(iter(f.states)).value for f in runner.firings] == ["Triggered"]


def test_firing_does_not_depend_on_how_often_it_is_ticked():
    steps = [*successes(0, 5, 0), *failures(0, 2, 100), *successes(5, 5, 500)]
    often = Runner([metric_trigger()]).run([*steps[:21], *ticks(110, 490, 1), *steps[21:]])
    often.run(ticks(510, 900, 1))
    rarely = Runner([metric_trigger()]).run(steps)
    rarely.step(Tick(900))
    assert [f.id for f in often.firings] == [f.id for f in rarely.firings]
    assert [f.triggering_value for f in often.firings] == [
        f.triggering_value for f in rarely.firings
    ]
    assert len(often.firings) == 2


def test_a_breach_caused_by_successes_leaving_the_range_fires_on_time():
    # range 900: Completed at 2..6 leave at 902..906; Failed at 602 stays until 1502.
    runner = Runner([metric_trigger("successes", "<", 0.8, range=900, firing_for=300)])
    runner.run([*successes(0, 5, 0), *lifecycle("bad", 600, *FAILURE)])
    assert runner.value() == pytest.approx(5 / 6)
    # 4/5 at 902 (not < 0.8); 3/4 at 903: the breach starts there. Leaving the range is no
    # deadline: the next tick (5 s later at most) finds the breach's exact start.
    assert runner.evaluation.next_deadline() is None
    runner.run(ticks(610, 905, 5))
    assert runner.evaluation.next_deadline() == at(1203)
    runner.run(ticks(910, 1202, 1))
    assert runner.firings == []
    (triggered,) = runner.step(Tick(1203))
    assert triggered.triggering_value == pytest.approx(0.0)
    assert next(iter(triggered.states)).value == "Triggered"


def test_no_runs_in_range_is_neither_breach_nor_recovery():
    runner = Runner([metric_trigger("successes", "<", 0.8, range=600, firing_for=300)])
    runner.run(failures(0, 1, 0))
    runner.run(ticks(10, 400, 10))
    assert len(runner.firings) == 1
    # Everything leaves the range at 602: no value, so the trigger stays Triggered.
    runner.run(ticks(410, 5000, 50))
    assert runner.value() is None
    assert len(runner.firings) == 1
    assert runner.evaluation.next_deadline() is None


def test_no_value_interrupts_a_pending_breach():
    runner = Runner([metric_trigger("successes", "<", 0.8, range=200, firing_for=300)])
    runner.run(failures(0, 1, 0))  # breach from 2; out of range (no value) from 202
    runner.run(ticks(10, 240, 10))
    # A new breach from 252 (Failed at 252 and 402) must hold until 552, not 302.
    runner.run([*failures(1, 1, 250), *ticks(260, 400, 10), *failures(2, 1, 400)])
    runner.run(ticks(410, 551, 1))
    assert runner.firings == []
    (triggered,) = runner.step(Tick(552))
    assert triggered.triggering_value == 0.0


def test_a_breach_that_leaves_the_range_exactly_at_firing_for_does_not_fire():
    runner = Runner([metric_trigger("successes", "<", 0.8, range=300, firing_for=300)])
    runner.run([*failures(0, 1, 0), *ticks(10, 1000, 1)])
    assert runner.firings == []


def test_flow_run_events_without_a_state_and_other_events_are_ignored():
    runner = Runner([metric_trigger()])
    heartbeat = flow_run("r", "Running", 0)
    heartbeat = type(heartbeat)(
        id="hb",
        occurred=heartbeat.occurred,
        event="prefect.flow-run.heartbeat",
        resource={"prefect.resource.id": "prefect.flow-run.r"},
    )
    other = type(heartbeat)(
        id="x",
        occurred=at(1),
        event="prefect.deployment.ready",
        resource={"prefect.resource.id": "prefect.deployment.d1", "prefect.state-type": "FAILED"},
    )
    runner.run([heartbeat, other])
    assert runner.value() is None
    assert runner.store == {}
