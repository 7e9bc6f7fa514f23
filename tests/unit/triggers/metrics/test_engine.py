"""Metric triggers through the Engine facade."""

from __future__ import annotations

import pytest

from automations_triggers.engine import Engine
from automations_triggers.metrics import METRIC, METRIC_RUN, MetricFiring
from automations_triggers.model import CompoundTrigger

from ..engine.helpers import Runner, Step, Tick, at, automation, event_trigger
from .helpers import lifecycle, metric_trigger

SUCCESS = ("Pending", "Running", "Completed")
FAILURE = ("Pending", "Running", "Failed")


def breach_and_recovery() -> list[Step]:
    steps: list[Step] = []
    for i in range(5):
        steps += lifecycle(f"ok{i}", i, *SUCCESS)
    for i in range(2):
        steps += lifecycle(f"bad{i}", 100 + i, *FAILURE)
    steps.append(Tick(403))
    for i in range(5, 10):
        steps += lifecycle(f"ok{i}", 500 + i - 5, *SUCCESS)
    steps.append(Tick(804))
    return steps


def test_a_metric_automation_triggers_and_resolves_through_the_engine():
    runner = Runner().load(automation(metric_trigger()))
    runner.run(breach_and_recovery()[:21])  # up to the second failure
    assert runner.engine.next_deadline() == at(403)
    runner.run(breach_and_recovery()[21:])
    triggered, resolved = runner.firings
    assert isinstance(triggered, MetricFiring)
    assert isinstance(resolved, MetricFiring)
    assert [next(iter(f.states)).value for f in runner.firings] == ["Triggered", "Resolved"]
    assert triggered.triggered == at(403)
    assert resolved.triggered == at(804)
    assert triggered.triggering_value == pytest.approx(5 / 7)
    assert {kind for kind, _ in runner.store} >= {METRIC, METRIC_RUN}


@pytest.mark.parametrize("restart_after", [10, 21, 22, 30])
def test_the_engine_restores_metric_state(restart_after):
    steps = breach_and_recovery()
    straight = Runner().load(automation(metric_trigger()))
    straight.run(steps)
    first = Runner().load(automation(metric_trigger()))
    first.run(steps[:restart_after])
    engine = Engine()
    engine.restore_state(first.store.values())
    second = Runner(engine=engine, store=dict(first.store)).load(automation(metric_trigger()))
    second.run(steps[restart_after:])
    assert [f.id for f in first.firings + second.firings] == [f.id for f in straight.firings]


def test_a_metric_child_fires_its_compound_parent():
    compound = CompoundTrigger(
        id="c", triggers=(metric_trigger(), event_trigger("e", expect=["never"])), require="any"
    )
    runner = Runner().load(automation(compound))
    runner.run(breach_and_recovery()[:22])
    (fired,) = runner.firings
    assert fired.trigger_id == "c"
    assert fired.triggering_firings[0].trigger_id == "m"


def test_removing_the_automation_deletes_its_metric_state():
    runner = Runner().load(automation(metric_trigger()))
    runner.run(breach_and_recovery()[:30])
    assert runner.store
    runner.apply(runner.engine.remove("a1"))
    assert not [k for k in runner.store if k[0] in (METRIC, METRIC_RUN)]


def test_the_firing_message_carries_the_metric_value():
    from automations_triggers.convert_events import firing_to_proto

    runner = Runner().load(automation(metric_trigger()))
    runner.run(breach_and_recovery()[:22])
    (triggered,) = runner.firings
    message = firing_to_proto(triggered, None)
    assert message.HasField("triggering_value")
    assert message.triggering_value == pytest.approx(5 / 7)
