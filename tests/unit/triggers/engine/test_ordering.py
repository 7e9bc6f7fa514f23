"""Causal ordering and duplicate suppression (reference §1.4), durable across restarts."""

from __future__ import annotations

from datetime import timedelta

from automations_triggers.model import Event, SequenceTrigger
from automations_triggers.ordering import CausalOrdering
from automations_triggers.state import FOLLOWER, SEEN, ChangeLog, StateRow

from .helpers import Batch, Runner, Tick, at, automation, ev, event_trigger, summary

MINUTE = 60.0


def ids(events: list[Event]) -> list[str]:
    return [e.id for e in events]


def test_event_without_follows_is_released_at_once():
    ordering = CausalOrdering()
    assert ids(ordering.admit(ev("x", 0, id="a"), at(0))) == ["a"]


def test_event_following_itself_is_released_at_once():
    ordering = CausalOrdering()
    assert ids(ordering.admit(ev("x", 0, id="a", follows="a"), at(0))) == ["a"]


def test_follower_waits_for_leader_and_is_released_after_it():
    ordering = CausalOrdering()
    assert ordering.admit(ev("x", 1, id="f", follows="l"), at(1)) == []
    assert ordering.waiting == 1
    assert ids(ordering.admit(ev("x", 0, id="l"), at(2))) == ["l", "f"]
    assert ordering.waiting == 0


def test_follower_of_seen_leader_is_released_at_once():
    ordering = CausalOrdering()
    ordering.admit(ev("x", 0, id="l"), at(0))
    assert ids(ordering.admit(ev("x", 1, id="f", follows="l"), at(1))) == ["f"]


def test_followers_released_in_occurred_order_recursively():
    ordering = CausalOrdering()
    ordering.admit(ev("x", 5, id="f1", follows="l"), at(5))
    ordering.admit(ev("x", 3, id="f2", follows="l"), at(5))
    ordering.admit(ev("x", 4, id="g", follows="f2"), at(5))
    assert ids(ordering.admit(ev("x", 0, id="l"), at(6))) == ["l", "f2", "g", "f1"]


def test_chain_release_stops_at_depth_20_and_rest_released_as_lost():
    ordering = CausalOrdering()
    for i in range(1, 26):
        ordering.admit(ev("x", i, id=f"c{i}", follows=f"c{i - 1}", received=i), at(i))
    released = ordering.admit(ev("x", 0, id="c0"), at(30))
    assert ids(released) == [f"c{i}" for i in range(21)]
    assert ordering.waiting == 5
    assert ordering.next_deadline() == at(21 + 15 * MINUTE)
    assert ordering.release_lost(at(21 + 15 * MINUTE - 1)) == []
    assert ids(ordering.release_lost(at(21 + 15 * MINUTE))) == ["c21", "c22", "c23", "c24", "c25"]


def test_follower_waits_at_most_15_minutes():
    ordering = CausalOrdering()
    ordering.admit(ev("x", 0, id="f", follows="never"), at(0))
    assert ordering.release_lost(at(15 * MINUTE - 0.001)) == []
    assert ids(ordering.release_lost(at(15 * MINUTE))) == ["f"]
    assert ordering.waiting == 0


def test_event_received_15_minutes_ago_is_not_held():
    ordering = CausalOrdering()
    event = ev("x", 0, id="f", follows="never", received=0)
    assert ids(ordering.admit(event, at(15 * MINUTE))) == ["f"]


def test_duplicates_are_evaluated_once():
    ordering = CausalOrdering()
    assert ids(ordering.admit(ev("x", 0, id="a"), at(0))) == ["a"]
    assert ordering.admit(ev("x", 0, id="a"), at(1)) == []
    ordering.admit(ev("x", 0, id="f", follows="l"), at(1))
    assert ordering.admit(ev("x", 0, id="f", follows="l"), at(1)) == []
    assert ids(ordering.admit(ev("x", 0, id="l"), at(2))) == ["l", "f"]


def test_seen_set_expires_after_30_minutes_and_is_bounded():
    ordering = CausalOrdering(seen_limit=3)
    ordering.admit(ev("x", 0, id="a"), at(0))
    assert ids(ordering.admit(ev("x", 0, id="a"), at(30 * MINUTE + 1))) == ["a"]
    for name in ["b", "c", "d"]:
        ordering.admit(ev("x", 0, id=name), at(30 * MINUTE + 2))
    # "a" was the oldest of four: evicted by the size bound.
    assert ids(ordering.admit(ev("x", 0, id="a"), at(30 * MINUTE + 3))) == ["a"]


def test_waiting_followers_survive_a_restart():
    ordering = CausalOrdering()
    ordering.admit(ev("x", 1, id="f", follows="l"), at(1))
    rows = ordering.rows()
    assert [r.kind for r in rows] == [FOLLOWER]
    restored = CausalOrdering()
    restored.restore(rows)
    assert ids(restored.admit(ev("x", 0, id="l"), at(2))) == ["l", "f"]


def test_engine_evaluates_follower_after_its_leader():
    trigger = SequenceTrigger(
        id="seq",
        triggers=(event_trigger("ta", expect=["a"]), event_trigger("tb", expect=["b"])),
    )
    runner = Runner().load(automation(trigger))
    runner.run([ev("b", 1, id="eb", follows="ea"), ev("a", 0, id="ea")])
    assert summary(runner.firings) == [("Triggered", "b@1")]


def test_engine_releases_lost_followers_on_due_and_persists_them():
    runner = Runner().load(automation(event_trigger(expect=["b"])))
    runner.step(Batch([ev("b", 0, id="eb", follows="gone")], now=0))
    assert runner.firings == []
    assert ("follower", "eb") in runner.store
    assert runner.engine.next_deadline() == at(0) + timedelta(minutes=15)
    runner.step(Tick(15 * MINUTE))
    assert summary(runner.firings) == [("Triggered", "b@0")]
    assert ("follower", "eb") not in runner.store


def test_engine_evaluates_duplicate_event_once():
    runner = Runner().load(automation(event_trigger(expect=["b"])))
    event = ev("b", 0)
    runner.run([event, event, Batch([event, event])])
    assert len(runner.firings) == 1


def test_released_lost_followers_do_not_move_the_events_clock():
    runner = Runner().load(automation(event_trigger(expect=["b"])))
    runner.step(Batch([ev("b", 0, id="eb", follows="gone")], now=0))
    runner.step(Tick(15 * MINUTE))
    assert runner.engine.offset == timedelta(0)


def test_seen_events_persist_as_one_row_per_call_until_all_are_forgotten():
    ordering = CausalOrdering(seen_limit=3)
    for name in ["a", "b"]:
        ordering.admit(ev("x", 0, id=name), at(0))
    store: dict[tuple[str, str], StateRow] = {}

    def write() -> None:
        changes = ChangeLog()
        ordering.write_changes(changes)
        taken = changes.take()
        store.update({(r.kind, r.key): r for r in taken.upserts})
        for ident in taken.deletes:
            store.pop(ident, None)

    write()
    assert [(kind, row.data["ids"]) for (kind, _), row in store.items()] == [(SEEN, ["a", "b"])]
    ordering.admit(ev("x", 0, id="c"), at(1))
    ordering.admit(ev("x", 0, id="d"), at(1))  # "a" is forgotten: its row keeps "b"
    write()
    assert sorted(len(row.data["ids"]) for row in store.values()) == [2, 2]
    ordering.admit(ev("x", 0, id="e"), at(2))  # "b" too: the first row goes
    write()
    assert sorted(row.data["ids"] for row in store.values()) == [["c", "d"], ["e"]]
    assert {(r.kind, r.key) for r in ordering.rows()} == set(store)
    restored = CausalOrdering(seen_limit=3)
    restored.restore(ordering.rows())
    assert restored.admit(ev("x", 0, id="c"), at(3)) == []
    assert ids(restored.admit(ev("x", 0, id="a"), at(3))) == ["a"]


def test_seen_rows_of_the_older_form_are_read():
    restored = CausalOrdering()
    restored.restore([StateRow(SEEN, "old", "", {"at": at(0).isoformat()})])
    assert restored.admit(ev("x", 0, id="old"), at(1)) == []
