"""What each metric computes (reference §5.2), retry-awareness, scoping and operators."""

from __future__ import annotations

import pytest

from automations_triggers.metric_state import SCALE, RunTimeline, flow_run_state
from automations_triggers.metrics import breaches

from .helpers import Runner, Tick, at, flow_run, metric_trigger

# (state, seconds, run count) per run.
Script = list[tuple[str, float, int]]


def timeline(script: Script, order: list[int] | None = None) -> RunTimeline:
    events = [flow_run("r", state, t, run_count=n) for state, t, n in script]
    result = RunTimeline("prefect.flow-run.r")
    for index in order or range(len(events)):
        parsed = flow_run_state(events[index])
        assert parsed is not None
        result.add(parsed[1])
    return result


COMPLETED_RUN: Script = [("Pending", 0, 0), ("Running", 10, 1), ("Completed", 70, 1)]
FAILED_RUN: Script = [("Pending", 0, 0), ("Running", 10, 1), ("Failed", 40, 1)]
RETRIED_RUN: Script = [
    ("Pending", 0, 0),
    ("Running", 10, 1),
    ("AwaitingRetry", 30, 1),
    ("Pending", 55, 1),
    ("Running", 60, 2),
    ("Completed", 90, 2),
]
MANUALLY_RETRIED_RUN: Script = [
    ("Running", 0, 1),
    ("Failed", 20, 1),
    ("Scheduled", 100, 1),
    ("Pending", 110, 1),
    ("Running", 120, 2),
    ("Completed", 150, 2),
]
RETRYING_RUN: Script = [("Running", 0, 1), ("Failed", 20, 1), ("Scheduled", 100, 1)]
CRASHED_RUN: Script = [("Running", 0, 1), ("Crashed", 5, 1)]
CANCELLED_SCHEDULED_RUN: Script = [("Scheduled", 0, 0), ("Cancelled", 5, 0)]
LATE_RUN: Script = [
    ("Scheduled", 0, 0),
    ("Late", 15, 0),
    ("Pending", 75, 0),
    ("Running", 80, 1),
    ("Completed", 100, 1),
]
LATE_CRASHED_RUN: Script = [("Late", 0, 0), ("Crashed", 30, 0)]
STILL_LATE_RUN: Script = [("Scheduled", 0, 0), ("Late", 15, 0)]
LATE_CANCELLED_RUN: Script = [("Late", 0, 0), ("Cancelled", 30, 0)]
RUNNING_RUN: Script = [("Pending", 0, 0), ("Running", 10, 1)]


@pytest.mark.parametrize(
    ("name", "script", "expected"),
    [
        ("successes", COMPLETED_RUN, (70, 1.0)),
        ("successes", FAILED_RUN, (40, 0.0)),
        ("successes", RETRIED_RUN, (90, 1.0)),
        ("successes", MANUALLY_RETRIED_RUN, (150, 1.0)),
        ("successes", RETRYING_RUN, None),
        ("successes", CRASHED_RUN, (5, 0.0)),
        ("successes", CANCELLED_SCHEDULED_RUN, (5, 1.0)),
        ("successes", RUNNING_RUN, None),
        ("duration", COMPLETED_RUN, (70, 60.0)),
        ("duration", FAILED_RUN, (40, 30.0)),
        ("duration", RETRIED_RUN, (90, 20.0 + 30.0)),
        ("duration", MANUALLY_RETRIED_RUN, (150, 20.0 + 30.0)),
        ("duration", CRASHED_RUN, (5, 5.0)),
        ("duration", CANCELLED_SCHEDULED_RUN, None),
        ("duration", RUNNING_RUN, None),
        ("lateness", LATE_RUN, (80, 65.0)),
        ("lateness", LATE_CRASHED_RUN, (30, 30.0)),
        ("lateness", STILL_LATE_RUN, None),
        ("lateness", LATE_CANCELLED_RUN, None),
        ("lateness", COMPLETED_RUN, None),
    ],
)
def test_what_a_run_contributes(name, script, expected):
    contribution = timeline(script).contribution(name)
    if expected is None:
        assert contribution is None
    else:
        assert contribution is not None
        assert contribution.time == at(expected[0])
        assert contribution.amount / SCALE[name] == expected[1]


@pytest.mark.parametrize("script", [RETRIED_RUN, MANUALLY_RETRIED_RUN, LATE_RUN])
def test_events_out_of_order_give_the_same_timeline(script):
    in_order = timeline(script)
    reversed_order = timeline(script, list(reversed(range(len(script)))))
    assert reversed_order.states == in_order.states


def test_a_replayed_state_is_not_added_twice():
    run = timeline(COMPLETED_RUN)
    parsed = flow_run_state(flow_run("r", "Completed", 70))
    assert parsed is not None
    assert run.add(parsed[1]) is False
    assert len(run.states) == 3


def feed(runner: Runner, run: str, script: Script, offset: float = 0, **kwargs: object) -> None:
    for state, t, n in script:
        runner.step(flow_run(run, state, t + offset, run_count=n, **kwargs))  # type: ignore[arg-type]


def test_successes_is_the_retry_aware_share_of_finished_runs():
    runner = Runner([metric_trigger("successes")])
    feed(runner, "a", RETRIED_RUN)  # failed attempt, then Completed: a success
    feed(runner, "b", FAILED_RUN)
    feed(runner, "c", RUNNING_RUN)  # not finished: not counted
    feed(runner, "d", RETRYING_RUN)  # failed, now being retried: not counted yet
    feed(runner, "e", CRASHED_RUN, offset=100)
    runner.step(Tick(200))
    assert runner.value() == pytest.approx(1 / 3)
    feed(runner, "d", [("Pending", 110, 1), ("Running", 120, 2), ("Completed", 130, 2)])
    assert runner.value() == pytest.approx(2 / 4)


def test_duration_is_the_mean_running_time_of_runs_finished_in_range():
    runner = Runner([metric_trigger("duration", ">", 100, range=600)])
    feed(runner, "a", COMPLETED_RUN)  # 60 s, finished at 70
    feed(runner, "b", RETRIED_RUN, offset=100)  # 50 s, finished at 190
    feed(runner, "c", CANCELLED_SCHEDULED_RUN, offset=150)  # never ran
    feed(runner, "d", RUNNING_RUN, offset=200)  # still running
    assert runner.value() == pytest.approx(55.0)
    runner.step(Tick(670))  # `a` leaves the range
    assert runner.value() == pytest.approx(50.0)


def test_lateness_is_the_mean_time_late_of_runs_marked_late():
    runner = Runner([metric_trigger("lateness", ">", 60, range=600)])
    feed(runner, "a", LATE_RUN)  # 65 s
    feed(runner, "b", LATE_CRASHED_RUN, offset=100)  # 30 s
    feed(runner, "c", COMPLETED_RUN, offset=100)  # never late: not counted
    feed(runner, "d", STILL_LATE_RUN, offset=100)  # still late: not counted
    assert runner.value() == pytest.approx(47.5)


def test_match_and_match_related_scope_the_runs():
    trigger = metric_trigger(
        "successes",
        match={"prefect.resource.id": "prefect.flow-run.*", "prefect.resource.name": "!skip-*"},
        match_related=[
            {"prefect.resource.role": "deployment", "prefect.resource.id": "prefect.deployment.d1"},
            {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.prod"},
        ],
    )
    runner = Runner([trigger])
    feed(runner, "in", COMPLETED_RUN, tags=["prod", "x"])
    feed(runner, "other-deployment", FAILED_RUN, deployment="d2", tags=["prod"])
    feed(runner, "untagged", FAILED_RUN)
    feed(runner, "skip-me", FAILED_RUN, tags=["prod"])
    assert runner.value() == 1.0
    rows = {row.data["run_id"] for row in runner.store.values() if row.kind == "metric_run"}
    assert rows == {"prefect.flow-run.in"}


def test_each_trigger_keeps_its_own_scope():
    d1 = metric_trigger(id="m1", match_related=[{"prefect.resource.id": "prefect.deployment.d1"}])
    d2 = metric_trigger(id="m2", match_related=[{"prefect.resource.id": "prefect.deployment.d2"}])
    runner = Runner([d1, d2])
    feed(runner, "a", COMPLETED_RUN, deployment="d1")
    feed(runner, "b", FAILED_RUN, deployment="d2")
    assert (runner.value("m1"), runner.value("m2")) == (1.0, 0.0)


@pytest.mark.parametrize(
    ("operator", "threshold", "value", "breached"),
    [
        ("<", 0.8, 0.79, True),
        ("<", 0.8, 0.8, False),
        ("<", 0.8, 0.81, False),
        ("<=", 0.8, 0.79, True),
        ("<=", 0.8, 0.8, True),
        ("<=", 0.8, 0.81, False),
        (">", 60, 59, False),
        (">", 60, 60, False),
        (">", 60, 61, True),
        (">=", 60, 59, False),
        (">=", 60, 60, True),
        (">=", 60, 61, True),
    ],
)
def test_operators(operator, threshold, value, breached):
    assert breaches(metric_trigger(operator=operator, threshold=threshold), value) is breached


@pytest.mark.parametrize(
    ("operator", "threshold", "fires"),
    [
        ("<", 50, False),
        ("<", 61, True),
        ("<=", 60, True),
        (">", 60, False),
        (">", 59, True),
        (">=", 60, True),
        (">=", 61, False),
    ],
)
def test_each_operator_through_the_breach_machine(operator, threshold, fires):
    # One run of exactly 60 s in Running; the breach (if any) starts when it finishes at 70.
    runner = Runner([metric_trigger("duration", operator, threshold, firing_for=300)])
    feed(runner, "a", COMPLETED_RUN)
    runner.step(Tick(369))
    assert runner.firings == []
    fired = runner.step(Tick(370))
    assert [f.triggering_value for f in fired] == ([60.0] if fires else [])


def test_triggers_pinned_to_resources_are_looked_up_by_id():
    from automations_triggers.metrics import index_ids

    pinned = metric_trigger(
        id="m1", match_related=[{"prefect.resource.id": ["prefect.deployment.d1"]}]
    )
    pinned_run = metric_trigger(id="m2", match={"prefect.resource.id": "prefect.flow-run.a"})
    glob = metric_trigger(id="m3", match_related=[{"prefect.resource.id": "prefect.deployment.*"}])
    assert index_ids(pinned) == frozenset({"prefect.deployment.d1"})
    assert index_ids(pinned_run) == frozenset({"prefect.flow-run.a"})
    assert index_ids(glob) is None
    runner = Runner([pinned, pinned_run, glob])
    feed(runner, "a", FAILED_RUN, deployment="d2")
    feed(runner, "b", COMPLETED_RUN, deployment="d1")
    assert [runner.value(t) for t in ("m1", "m2", "m3")] == [1.0, 0.0, 0.5]
    runner.evaluation.untrack("a1", "m1")
    feed(runner, "c", FAILED_RUN, deployment="d1", offset=10)
    assert [runner.value(t) for t in ("m1", "m2", "m3")] == [None, 0.0, pytest.approx(1 / 3)]
