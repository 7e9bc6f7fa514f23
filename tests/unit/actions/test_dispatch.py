"""Dispatch decisions with an in-memory ledger and event sink: once, retries, give-ups, and
events that are published again until EVENTS takes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from automations_actions.action_events import OutgoingEvent
from automations_actions.dispatch import Delivery, Dispatcher, Verdict
from automations_actions.kinds.base import (
    ActionFailed,
    ActionInvocation,
    ActionOutcome,
    TransientFailure,
)
from automations_actions.runs import ActionRun, Attempt, RetryPolicy, RunState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class MemoryLedger:
    rows: dict[str, ActionRun] = field(default_factory=dict)
    saves: list[list[str]] = field(default_factory=list)

    async def claim(self, runs: Sequence[ActionRun]) -> dict[str, ActionRun]:
        held = {r.id: replace(self.rows[r.id]) for r in runs if r.id in self.rows}
        fresh = [r for r in runs if r.id not in held]
        if fresh:
            await self.save(fresh)
        return held

    async def save(self, runs: Sequence[ActionRun]) -> None:
        self.saves.append([f"{r.id}:{r.state}" for r in runs])
        for run in runs:
            self.rows[run.id] = replace(run)


@dataclass
class MemorySink:
    events: list[OutgoingEvent] = field(default_factory=list)
    # While set, every publish fails, as it does when NATS is away or the stream refuses.
    refusing: bool = False

    async def emit(self, events: Sequence[OutgoingEvent]) -> None:
        if self.refusing:
            raise ConnectionError("EVENTS refused the batch")
        self.events.extend(events)

    def names(self) -> list[str]:
        return [e.event["event"].rsplit(".", 1)[-1] for e in self.events]


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


def invocation(action_id: str = "a1", action_type: str = "test") -> ActionInvocation:
    return ActionInvocation(
        action_id=action_id,
        action_index=0,
        action_type=action_type,
        action={"type": action_type},
        automation={"id": "auto", "name": "n", "trigger": {"type": "event", "posture": "Reactive"}},
        firing={"id": "f1"},
        triggering_event={"id": "e1", "occurred": T0.isoformat()},
        triggered_time=T0,
    )


class Scripted:
    """An executor that plays back outcomes: an ActionOutcome or an exception to raise."""

    def __init__(self, *script: ActionOutcome | Exception) -> None:
        self.script = list(script)
        self.calls = 0

    async def __call__(self, invocation: ActionInvocation) -> ActionOutcome:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        return step


def dispatcher(
    executor: Scripted, ledger: MemoryLedger, sink: MemorySink, clock: Clock
) -> Dispatcher:
    return Dispatcher(
        ledger=ledger,
        executors={"test": executor},
        events=sink,
        retry=RetryPolicy(max_attempts=3, base_seconds=1, cap_seconds=1.5),
        lease_seconds=30,
        clock=clock,
    )


async def test_success_is_recorded_before_and_after_and_not_repeated() -> None:
    ledger, sink, clock = MemoryLedger(), MemorySink(), Clock()
    executor = Scripted(ActionOutcome(result={"status_code": 200}))
    d = dispatcher(executor, ledger, sink, clock)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("ack")]
    assert ledger.saves == [["a1:RUNNING"], ["a1:SUCCEEDED"]]
    assert sink.names() == ["triggered", "executed"]
    assert sink.events[1].event["payload"]["status_code"] == 200
    first = list(sink.events)
    # Redelivered after it finished: not run; its events are published again, the same ones
    # (same ids, which EVENTS deduplicates), since the first publish may not have landed.
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("ack")]
    assert executor.calls == 1
    assert sink.events == first + first


async def test_transient_failures_back_off_then_give_up() -> None:
    ledger, sink, clock = MemoryLedger(), MemorySink(), Clock()
    executor = Scripted(TransientFailure("the webhook answered 503", {"status_code": 503}))
    d = dispatcher(executor, ledger, sink, clock)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("nak", 1.0)]
    assert ledger.rows["a1"].state == RunState.RETRYING
    clock.now += timedelta(seconds=1)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("nak", 1.5)]
    clock.now += timedelta(seconds=2)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("ack")]
    run = ledger.rows["a1"]
    assert run.state == RunState.FAILED
    assert run.reason == "gave up after 3 attempts: the webhook answered 503"
    assert [a.number for a in run.attempts] == [1, 2, 3]
    assert all(a.transient for a in run.attempts)
    # action.triggered as attempt 1 ended, and again beside the outcome (same id).
    assert sink.names() == ["triggered", "triggered", "failed"]
    assert sink.events[-1].event["payload"]["reason"] == run.reason


async def test_permanent_failure_fails_at_once() -> None:
    ledger, sink, clock = MemoryLedger(), MemorySink(), Clock()
    executor = Scripted(ActionFailed("the webhook answered 404", {"status_code": 404}))
    d = dispatcher(executor, ledger, sink, clock)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("ack")]
    assert ledger.rows["a1"].state == RunState.FAILED
    assert ledger.rows["a1"].result == {"status_code": 404}
    assert sink.names() == ["triggered", "failed"]


async def test_unknown_type_and_unreadable_messages() -> None:
    ledger, sink, clock = MemoryLedger(), MemorySink(), Clock()
    d = dispatcher(Scripted(ActionOutcome()), ledger, sink, clock)
    verdicts = await d.dispatch(
        [Delivery("default", invocation("a2", "launch-rocket")), Delivery("default", None, "junk")]
    )
    assert verdicts == [Verdict("ack"), Verdict("ack")]
    assert ledger.rows["a2"].reason == "this service cannot carry out 'launch-rocket' actions"


async def test_an_executor_bug_is_retried_not_fatal() -> None:
    ledger, sink, clock = MemoryLedger(), MemorySink(), Clock()
    d = dispatcher(Scripted(RuntimeError("boom"), ActionOutcome()), ledger, sink, clock)
    assert (await d.dispatch([Delivery("default", invocation())]))[0].kind == "nak"
    assert ledger.rows["a1"].attempts[0].error == "internal error: RuntimeError: boom"
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("ack")]
    assert ledger.rows["a1"].state == RunState.SUCCEEDED


def running_row(*attempts: Attempt) -> ActionRun:
    """Action a1 as a process left it: RUNNING, with these attempts begun at T0."""
    return ActionRun(
        id="a1",
        workspace="default",
        automation_id="auto",
        automation_name="n",
        action_index=0,
        action_type="test",
        state=RunState.RUNNING,
        firing_id="f1",
        triggering_event_id="e1",
        created=T0,
        updated=T0,
        attempts=list(attempts),
    )


async def test_a_running_row_within_its_lease_waits_and_an_old_one_runs_again() -> None:
    ledger, sink, clock = MemoryLedger(), MemorySink(), Clock()
    ledger.rows["a1"] = running_row(Attempt(1, T0))
    executor = Scripted(ActionOutcome())
    d = dispatcher(executor, ledger, sink, clock)
    clock.now = T0 + timedelta(seconds=10)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("nak", 20.0)]
    assert executor.calls == 0
    clock.now = T0 + timedelta(seconds=31)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("ack")]
    assert [a.number for a in ledger.rows["a1"].attempts] == [1, 2]
    # Attempt 1 stopped before publishing anything: attempt 2 publishes action.triggered too.
    assert sink.names() == ["triggered", "executed"]
    assert sink.events[1].event["follows"] == sink.events[0].event["id"]


async def test_attempts_that_never_ended_are_given_up() -> None:
    ledger, sink, clock = MemoryLedger(), MemorySink(), Clock(T0 + timedelta(hours=1))
    ledger.rows["a1"] = running_row(*(Attempt(n, T0) for n in (1, 2, 3)))
    executor = Scripted(ActionOutcome())
    d = dispatcher(executor, ledger, sink, clock)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("ack")]
    assert executor.calls == 0
    assert ledger.rows["a1"].state == RunState.FAILED
    assert "did not finish" in ledger.rows["a1"].reason
    assert sink.names() == ["triggered", "failed"]


async def test_duplicates_in_one_batch_run_once() -> None:
    ledger, sink, clock = MemoryLedger(), MemorySink(), Clock()
    executor = Scripted(ActionOutcome())
    d = dispatcher(executor, ledger, sink, clock)
    verdicts = await d.dispatch(
        [Delivery("default", invocation()), Delivery("default", invocation())]
    )
    assert verdicts == [Verdict("ack"), Verdict("ignore")]
    assert executor.calls == 1


async def test_events_eventually_published_without_acting_again() -> None:
    ledger, sink, clock = MemoryLedger(), MemorySink(refusing=True), Clock()
    related = [
        {"prefect.resource.id": "prefect.block-document.b1", "prefect.resource.role": "block"}
    ]
    executor = Scripted(ActionOutcome(result={"status_code": 200}, resulting_related=related))
    d = dispatcher(executor, ledger, sink, clock)
    # Done and recorded, but not acked: the redelivery is what publishes the events.
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("nak", 1.0)]
    assert ledger.rows["a1"].state == RunState.SUCCEEDED
    assert sink.events == []
    # Still refused: naked again, for longer the longer it has been (within the policy).
    clock.now += timedelta(seconds=1.2)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("nak", 1.2)]
    clock.now += timedelta(seconds=5)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("nak", 1.5)]

    sink.refusing = False
    clock.now += timedelta(seconds=2)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("ack")]
    assert executor.calls == 1
    assert sink.names() == ["triggered", "executed"]
    triggered, executed = (e.event for e in sink.events)
    assert executed["follows"] == triggered["id"]
    assert executed["related"][0] == related[0]
    assert executed["payload"]["status_code"] == 200
    assert executed["occurred"] == T0.isoformat()


async def test_a_first_attempt_whose_events_were_refused_still_gets_action_triggered() -> None:
    ledger, sink, clock = MemoryLedger(), MemorySink(refusing=True), Clock()
    executor = Scripted(TransientFailure("the webhook answered 503"), ActionOutcome())
    d = dispatcher(executor, ledger, sink, clock)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("nak", 1.0)]
    assert sink.events == []
    sink.refusing = False
    clock.now += timedelta(seconds=1)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("ack")]
    assert sink.names() == ["triggered", "executed"]


async def test_a_give_up_whose_events_were_refused_publishes_them_on_redelivery() -> None:
    ledger, sink, clock = MemoryLedger(), MemorySink(refusing=True), Clock(T0 + timedelta(hours=1))
    ledger.rows["a1"] = running_row(*(Attempt(n, T0) for n in (1, 2, 3)))
    executor = Scripted(ActionOutcome())
    d = dispatcher(executor, ledger, sink, clock)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("nak", 1.0)]
    assert ledger.rows["a1"].state == RunState.FAILED
    sink.refusing = False
    clock.now += timedelta(seconds=1)
    assert await d.dispatch([Delivery("default", invocation())]) == [Verdict("ack")]
    assert executor.calls == 0
    assert sink.names() == ["triggered", "failed"]
    assert sink.events[1].event["payload"]["reason"] == ledger.rows["a1"].reason


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=6, base_seconds=1, cap_seconds=5)
    assert [policy.delay_after(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
