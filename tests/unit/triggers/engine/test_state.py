"""State is explicit: the change stream rebuilds it, and a restart from it changes nothing."""

from __future__ import annotations

import dataclasses
import gc
import json
import tracemalloc
import uuid
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automations_triggers.engine import Engine
from automations_triggers.model import Automation, CompoundTrigger, Event, SequenceTrigger

from .helpers import Batch, Runner, Step, Tick, automation, ev, event_trigger, summary

RUN, DONE, HB = "run", "done", "hb"
EACH = ["prefect.resource.id"]

SCENARIOS: list[Any] = [
    pytest.param(
        [automation(event_trigger(expect=[DONE], threshold=3, within=10))],
        [ev(DONE, 0), ev(DONE, 1), ev(DONE, 2), ev(DONE, 5), ev(DONE, 12), ev(DONE, 13)],
        id="reactive-threshold",
    ),
    pytest.param(
        [
            automation(
                event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=10, proactive=True)
            )
        ],
        [ev(RUN, 0, "r1"), ev(RUN, 1, "r2"), ev(DONE, 3, "r2"), Tick(10), Tick(11), ev(DONE, 20)],
        id="proactive-after-for-each",
    ),
    pytest.param(
        [automation(event_trigger(expect=[HB], within=10, proactive=True))],
        [Tick(0), Tick(10), ev(HB, 12), Tick(20), Tick(22), Tick(32)],
        id="proactive-global",
    ),
    pytest.param(
        [
            automation(
                SequenceTrigger(
                    "s",
                    (event_trigger("ta", expect=["a"]), event_trigger("tb", expect=["b"])),
                    timedelta(seconds=30),
                ),
                id="seq",
            ),
            automation(
                CompoundTrigger(
                    "c", (event_trigger("tc", expect=["a"]), event_trigger("td", expect=["b"]))
                ),
                id="all",
            ),
        ],
        [ev("a", 0), ev("b", 1, id="b-follows", follows="a-late"), ev("a", 2, id="a-late")],
        id="composites-and-followers",
    ),
]


def assert_store_matches_engine(runner: Runner) -> None:
    exported = {(r.kind, r.key): r for r in runner.engine.export_state()}
    assert runner.store == exported
    json.dumps([r.data for r in exported.values()])  # every row is JSON-serializable


def run_with_restart(automations: list[Automation], steps: list[Step], split: int) -> Runner:
    first = Runner().load(*automations)
    first.run(steps[:split])
    second = Runner(engine=Engine(), store=dict(first.store), firings=list(first.firings))
    second.engine.restore_state(list(first.store.values()))
    second.load(*automations)
    second.run(steps[split:])
    return second


@pytest.mark.parametrize(("automations", "steps"), SCENARIOS)
def test_restart_at_any_point_gives_the_same_firings(automations, steps):
    straight = Runner().load(*automations)
    for step in steps:
        straight.step(step)
        assert_store_matches_engine(straight)
    assert straight.firings
    for split in range(len(steps) + 1):
        restarted = run_with_restart(automations, steps, split)
        assert [f.id for f in restarted.firings] == [f.id for f in straight.firings]
        assert summary(restarted.firings) == summary(straight.firings)
        assert_store_matches_engine(restarted)


@settings(max_examples=60, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "threshold": st.integers(1, 3),
            "within": st.sampled_from([0, 10, 20]),
            "proactive": st.booleans(),
            "after": st.sampled_from([[], [RUN], [HB]]),
            "expect": st.sampled_from([[DONE], [HB], [DONE, HB]]),
            "for_each": st.sampled_from([[], EACH]),
        }
    ),
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from([RUN, DONE, HB]), st.sampled_from(["r1", "r2"])),
            st.just(None),
        ),
        max_size=14,
    ),
    st.integers(0, 14),
)
def test_bucket_state_machine_survives_restart(params, script, split):
    trigger = event_trigger(**params)
    steps: list[Step] = []
    for i, item in enumerate(script):
        t = i * 4.0
        steps.append(Tick(t) if item is None else ev(item[0], t, item[1], id=f"s{i}"))
    automations = [automation(trigger)]
    straight = Runner().load(*automations)
    straight.run(steps)
    restarted = run_with_restart(automations, steps, min(split, len(steps)))
    assert [f.id for f in restarted.firings] == [f.id for f in straight.firings]
    assert_store_matches_engine(restarted)


def test_unchanged_upsert_keeps_state_and_changed_trigger_drops_it():
    trigger = event_trigger(expect=[DONE], threshold=2, within=60)
    runner = Runner().load(automation(trigger))
    runner.step(ev(DONE, 0))
    renamed = dataclasses.replace(automation(trigger), name="renamed")
    runner.apply(runner.engine.upsert(renamed))
    runner.step(ev(DONE, 1))
    assert len(runner.firings) == 1
    runner.step(ev(DONE, 61))
    changed = automation(dataclasses.replace(trigger, threshold=3))
    changes = runner.engine.upsert(changed)
    assert [kind for kind, _ in changes.deletes] == ["bucket"]
    runner.apply(changes)
    assert_store_matches_engine(runner)


def test_pause_stops_evaluation_and_drops_state_and_remove_drops_it():
    trigger = event_trigger(expect=[DONE], threshold=2, within=60)
    runner = Runner().load(automation(trigger))
    runner.step(ev(DONE, 0))
    runner.apply(runner.engine.upsert(automation(trigger, enabled=False)))
    runner.run([ev(DONE, 1), ev(DONE, 2)])
    assert runner.firings == []
    assert not any(kind == "bucket" for kind, _ in runner.store)
    runner.apply(runner.engine.upsert(automation(trigger)))
    runner.step(ev(DONE, 3))
    runner.apply(runner.engine.remove("a1"))
    assert not any(kind == "bucket" for kind, _ in runner.store)
    runner.step(ev(DONE, 4))
    assert runner.firings == []


def test_load_prunes_state_of_vanished_automations_and_triggers():
    first = Runner().load(automation(event_trigger("t1", expect=[DONE], threshold=2, within=60)))
    first.step(ev(DONE, 0))
    engine = Engine()
    engine.restore_state(list(first.store.values()))
    changes = engine.load([automation(event_trigger("t2", expect=[DONE], threshold=2, within=60))])
    assert [kind for kind, _ in changes.deletes] == ["bucket"]


def realistic_event(i: int) -> Event:
    """A flow-run state event shaped like Prefect's (~3 KB as objects, ~1.2 KB as JSON)."""
    related = [
        {
            "prefect.resource.id": f"prefect.{kind}.{uuid.UUID(int=i * 7 + n)}",
            "prefect.resource.role": kind,
            "prefect.resource.name": f"{kind}-name-{i}",
        }
        for n, kind in enumerate(["flow", "deployment", "work-queue", "work-pool"])
    ]
    event = ev(
        RUN,
        i * 0.001,
        f"prefect.flow-run.{uuid.UUID(int=i)}",
        id=str(uuid.UUID(int=10**9 + i)),
        labels={
            "prefect.resource.name": f"crimson-fox-{i}",
            "prefect.state-type": "RUNNING",
            "prefect.state-name": "Running",
        },
        related=related,
        received=i * 0.001,
    )
    payload = {
        "intended": {"from": "PENDING", "to": "RUNNING"},
        "initial_state": {"type": "PENDING", "name": "Pending"},
        "validated_state": {"type": "RUNNING", "name": "Running"},
    }
    return dataclasses.replace(event, payload=payload)


def test_memory_per_live_bucket_is_under_1kb():
    trigger = event_trigger(after=[RUN], expect=[DONE], for_each=EACH, within=3600, proactive=True)
    engine = Engine(persist_seen=False, seen_limit=0)
    engine.load([automation(trigger)])
    count = 2000
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    # The events are created inside the measurement and dropped after: the buckets keep
    # each one as `last_event`, which is counted.
    events = [realistic_event(i) for i in range(count)]
    engine.process(events, events[-1].occurred)
    del events
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert engine.next_deadline() is not None
    per_bucket = (after - before) / count
    # Includes the retained last event of every bucket.
    print(f"bytes per live bucket: {per_bucket:.0f}")
    assert per_bucket < 1024, per_bucket


def test_batch_result_lists_changed_rows_once():
    runner = Runner().load(automation(event_trigger(expect=[DONE], threshold=5, within=60)))
    result = runner.engine.process([ev(DONE, 0), ev(DONE, 1), ev(DONE, 2)], ev(DONE, 2).occurred)
    buckets = [r for r in result.changes.upserts if r.kind == "bucket"]
    assert len(buckets) == 1
    assert buckets[0].data["count"] == 3


def test_batch_steps_are_supported():
    runner = Runner().load(automation(event_trigger(expect=[DONE])))
    runner.step(Batch([ev(DONE, 0), ev(DONE, 1)]))
    assert len(runner.firings) == 2
