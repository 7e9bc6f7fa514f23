"""Metric state is explicit, serializable and bounded; a restore continues exactly."""

from __future__ import annotations

import json

import pytest

from automations_common.ids import derived_id
from automations_triggers.metrics import (
    METRIC,
    METRIC_RUN,
    OPEN_RUN_RETENTION,
    MetricEvaluation,
    MetricFiring,
)
from automations_triggers.state import ChangeLog

from .helpers import AUTOMATION, Runner, Step, Tick, flow_run, lifecycle, metric_trigger, ticks

SUCCESS = ("Pending", "Running", "Completed")
FAILURE = ("Pending", "Running", "Failed")


def scenario() -> list[Step]:
    """Breach from 103, Triggered at 403, recovery from 504, Resolved at 804."""
    steps: list[Step] = []
    for i in range(5):
        steps += lifecycle(f"ok{i}", i, *SUCCESS)
    for i in range(2):
        steps += lifecycle(f"bad{i}", 100 + i, *FAILURE)
    steps += ticks(110, 490, 20)
    for i in range(5, 10):
        steps += lifecycle(f"ok{i}", 500 + i - 5, *SUCCESS)
    steps += ticks(510, 1000, 20)
    return steps


def outcome(runner: Runner) -> list[tuple[str, frozenset[str], float | None]]:
    return [(f.id, frozenset(f.states), f.triggering_value) for f in runner.firings]


@pytest.mark.parametrize("restart_after", [10, 20, 22, 30, 40, 45, 60])
def test_restoring_mid_breach_gives_the_same_outcome(restart_after):
    steps = scenario()
    straight = Runner([metric_trigger()]).run(steps)
    assert [next(iter(f.states)).value for f in straight.firings] == ["Triggered", "Resolved"]
    restarted = Runner([metric_trigger()]).run(steps[:restart_after]).restart()
    restarted.run(steps[restart_after:])
    assert outcome(restarted) == outcome(straight)


def test_restoring_just_before_the_deadline_fires_at_the_deadline():
    runner = Runner([metric_trigger()])
    for i in range(5):
        runner.run(lifecycle(f"ok{i}", i, *SUCCESS))
    for i in range(2):
        runner.run(lifecycle(f"bad{i}", 100 + i, *FAILURE))
    runner.step(Tick(402))
    runner.restart()
    assert runner.evaluation.next_deadline() is not None
    assert runner.firings == []
    (triggered,) = runner.step(Tick(403))
    assert triggered.triggering_value == pytest.approx(5 / 7)


def test_firing_ids_are_deterministic_and_resolved_follows_triggered():
    first = Runner([metric_trigger()]).run(scenario())
    second = Runner([metric_trigger()]).run(scenario())
    assert outcome(first) == outcome(second)
    triggered, resolved = first.firings
    assert resolved.id == derived_id("resolved", triggered.id)
    assert triggered.automation_id == AUTOMATION
    assert triggered.trigger_id == "m"
    assert triggered.triggering_event is None


def test_a_firing_serializes_its_value():
    (triggered, _) = Runner([metric_trigger()]).run(scenario()).firings
    data = triggered.to_dict()
    assert data["triggering_value"] == pytest.approx(5 / 7)
    assert data["states"] == ["Triggered"]


def test_rows_are_one_per_trigger_and_one_per_run_and_json_ready():
    runner = Runner([metric_trigger()]).run(scenario()[:30])
    kinds = sorted(kind for kind, _ in runner.store)
    assert kinds.count(METRIC) == 1
    assert kinds.count(METRIC_RUN) == 7
    # The per-call changes, applied, equal a full export.
    assert {(r.kind, r.key): r for r in runner.evaluation.rows()} == runner.store
    for row in runner.store.values():
        json.dumps(row.data)
        assert row.automation_id == AUTOMATION


def test_old_runs_are_dropped_and_their_rows_deleted():
    runner = Runner([metric_trigger(range=600)])
    runner.run(lifecycle("done", 0, *SUCCESS))
    runner.run(lifecycle("stuck", 0, "Pending", "Running"))
    runner.step(Tick(600 + 15 * 60 + 10))  # range + margin later
    runs = {row.data["run_id"] for row in runner.store.values() if row.kind == METRIC_RUN}
    assert runs == {"prefect.flow-run.stuck"}  # an unfinished run is kept longer
    runner.step(Tick(OPEN_RUN_RETENTION.total_seconds() + 100))
    assert not [row for row in runner.store.values() if row.kind == METRIC_RUN]


def test_a_long_running_run_still_counts_its_duration():
    runner = Runner([metric_trigger("duration", ">", 3600, range=600)])
    runner.run(lifecycle("long", 0, "Pending", "Running"))
    runner.run(ticks(60, 7200, 60))
    runner.run(lifecycle("long", 7201, "Completed"))
    assert runner.value() == pytest.approx(7200.0)


def test_a_definition_changed_while_down_starts_afresh():
    runner = Runner([metric_trigger()]).run(scenario()[:30])
    changed = metric_trigger(threshold=0.5)
    runner.triggers = [changed]
    runner.restart()
    assert runner.value() is None
    assert runner.store == {}


def test_state_of_unknown_triggers_is_deleted_on_load():
    runner = Runner([metric_trigger()]).run(scenario()[:30])
    runner.triggers = []
    runner.restart()
    assert runner.store == {}


def test_untrack_deletes_the_trigger_state():
    runner = Runner([metric_trigger()]).run(scenario()[:30])
    runner.evaluation.untrack(AUTOMATION, "m")
    log = ChangeLog()
    runner.evaluation.write_changes(log)
    deleted = set(log.take().deletes)
    assert deleted == set(runner.store)


def test_nothing_to_do_without_metric_triggers():
    fired: list[MetricFiring] = []
    evaluation = MetricEvaluation(lambda a, t, f: fired.append(f))  # type: ignore[arg-type]
    for event in scenario():
        if not isinstance(event, Tick):
            evaluation.observe(event, event.occurred, event.occurred)
    assert evaluation.next_deadline() is None
    assert evaluation.rows() == []
    assert fired == []


@pytest.mark.parametrize("name", ["successes", "duration", "lateness"])
def test_the_running_sums_match_a_recomputation(name):
    import random

    from automations_triggers.metric_state import SCALE

    rng = random.Random(7)
    runner = Runner([metric_trigger(name, range=300)])
    states = ["Late", "Pending", "Running", "Completed", "Failed", "Crashed", "AwaitingRetry"]
    t = 0.0
    for step in range(600):
        t += rng.uniform(0, 5)
        run = f"r{rng.randrange(40)}"
        # Some events arrive late, some duplicate an earlier state.
        runner.step(flow_run(run, rng.choice(states), t - rng.uniform(0, 30)))
        if step % 50 == 0:
            runner.step(Tick(t))
        metric = runner.evaluation._triggers[(AUTOMATION, "m")]
        assert metric.status.clock is not None
        cutoff = metric.status.clock - metric.range
        amounts = [
            c.amount
            for r in metric.runs.values()
            if (c := r.contribution(name)) is not None and c.time > cutoff
        ]
        expected = sum(amounts) / len(amounts) / SCALE[name] if amounts else None
        assert runner.value() == expected
