"""Carries out a batch of delivered actions exactly once each, with the ledger as the record.

Per action: a terminal ledger row means a redelivery (publish its events again, do not
act); otherwise the attempt is written (RUNNING) before acting, the executor runs, and the
row is made terminal (SUCCEEDED / FAILED) or RETRYING with a backoff delay until the
attempts run out. A finished action is acked only once its events are in EVENTS: until
then it is naked, and its redelivery publishes them again from the terminal row, so no
action event is lost to a crash or to NATS being away. Transport-free: the consumer turns
verdicts into ack / nak.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from automations_actions.action_events import (
    OutgoingEvent,
    finished_run_events,
    triggered_event,
)
from automations_actions.kinds.base import (
    ActionFailed,
    ActionInvocation,
    ActionOutcome,
    Executor,
    TransientFailure,
)
from automations_actions.runs import ActionRun, Attempt, RetryPolicy, RunState

log = logging.getLogger(__name__)

T = TypeVar("T")


class Ledger(Protocol):
    async def claim(self, runs: Sequence[ActionRun]) -> dict[str, ActionRun]:
        """Store each run whose id the ledger does not hold; the runs it did hold."""
        ...

    async def save(self, runs: Sequence[ActionRun]) -> None: ...


class EventSink(Protocol):
    async def emit(self, events: Sequence[OutgoingEvent]) -> None: ...


@dataclass(frozen=True)
class Delivery:
    """One delivered action: its invocation, or why it could not be read."""

    workspace: str
    invocation: ActionInvocation | None
    problem: str = ""


@dataclass(frozen=True)
class Verdict:
    """What to tell the broker: `ack`, `nak` after `delay` seconds, or `ignore` (in flight)."""

    kind: str
    delay: float = 0.0


ACK = Verdict("ack")
IGNORE = Verdict("ignore")


@dataclass
class _Work:
    delivery: Delivery
    invocation: ActionInvocation
    run: ActionRun
    attempt: Attempt
    verdict: Verdict = ACK


@dataclass
class Dispatcher:
    ledger: Ledger
    executors: Mapping[str, Executor]
    events: EventSink
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 64
    # A RUNNING row younger than this belongs to an attempt still under way somewhere.
    lease_seconds: float = 60.0
    # How long a finished action's ledger write and events wait for others to share the
    # transaction and the publish. A crash in this window repeats the action (once more,
    # with the same Idempotency-Key), so keep it to milliseconds.
    linger_seconds: float = 0.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)
        self._in_flight: set[str] = set()
        self._writes: Coalescer[ActionRun] = Coalescer(self._save, self.linger_seconds)
        self._events: Coalescer[OutgoingEvent] = Coalescer(self._emit_now, self.linger_seconds)

    async def dispatch(self, deliveries: Sequence[Delivery]) -> list[Verdict]:
        """Carry out a batch; one verdict per delivery, in order."""
        verdicts: list[Verdict] = [ACK] * len(deliveries)
        now = self.clock()
        readable = [
            (i, d, d.invocation) for i, d in enumerate(deliveries) if d.invocation is not None
        ]
        for delivery in deliveries:
            if delivery.invocation is None:
                # A message nobody can read will not get better: drop it, loudly.
                log.error("dropping an unreadable action message: %s", delivery.problem)
        # Each action not in flight here is claimed: its RUNNING row is written at once if
        # the ledger has none (the usual case: one transaction, no read before it).
        candidates: list[tuple[int, Delivery, ActionInvocation, ActionRun]] = []
        seen: set[str] = set()
        for i, delivery, invocation in readable:
            action_id = invocation.action_id
            if action_id in self._in_flight or action_id in seen:
                verdicts[i] = IGNORE
                continue
            seen.add(action_id)
            fresh = _next_attempt(_new_run(invocation, delivery.workspace, now), now)
            candidates.append((i, delivery, invocation, fresh))
        started = time.monotonic()
        existing = await self.ledger.claim([run for *_, run in candidates])
        _note_slow("claiming %d action runs", len(candidates), started)
        work: list[tuple[int, _Work]] = []
        updated: list[ActionRun] = []
        finished: list[tuple[int, ActionInvocation, ActionRun]] = []
        for i, delivery, invocation, fresh in candidates:
            run = existing.get(invocation.action_id)
            if run is None:
                work.append((i, _Work(delivery, invocation, fresh, fresh.attempts[-1])))
                continue
            action_id = invocation.action_id
            if run.terminal:
                # Not acted on again; its events may never have reached EVENTS (that is why
                # it came back, or the process stopped before publishing them).
                log.info("action %s already %s; publishing its events again", action_id, run.state)
                finished.append((i, invocation, run))
                continue
            if run.state == RunState.RUNNING and run.attempts:
                age = (now - run.attempts[-1].started).total_seconds()
                if age < self.lease_seconds:
                    verdicts[i] = Verdict("nak", self.lease_seconds - age)
                    continue
            if len(run.attempts) >= self.retry.max_attempts:
                # Every attempt was started and none ended: the service kept stopping.
                run = _finish(
                    run,
                    RunState.FAILED,
                    now,
                    f"gave up after {len(run.attempts)} attempts that did not finish",
                )
                updated.append(run)
                finished.append((i, invocation, run))
                continue
            run = _next_attempt(run, now)
            updated.append(run)
            work.append((i, _Work(delivery, invocation, run, run.attempts[-1])))
        # Redeliveries' new attempts and give-ups share a transaction with whatever else is
        # being recorded (finished runs): on a busy disk a transaction can take 100s of ms,
        # and batches waiting for one each would fall behind.
        await self._writes.submit(updated, urgent=True)
        for _, w in work:
            self._in_flight.add(w.invocation.action_id)
        try:
            async with asyncio.TaskGroup() as group:
                if finished:
                    group.create_task(self._publish_finished(finished, verdicts))
                for _, w in work:
                    group.create_task(self._attempt(w))
        finally:
            for _, w in work:
                self._in_flight.discard(w.invocation.action_id)
        for i, w in work:
            verdicts[i] = w.verdict
        return verdicts

    async def _publish_finished(
        self, finished: list[tuple[int, ActionInvocation, ActionRun]], verdicts: list[Verdict]
    ) -> None:
        """Publish the events of actions that had finished before (beside the new work, which
        must not wait for NATS); ack them only once EVENTS took them."""
        events = [
            e for _, invocation, run in finished for e in finished_run_events(invocation, run)
        ]
        if not await self._published(events):
            for i, _, run in finished:
                verdicts[i] = self._publish_again_later(run)

    async def _attempt(self, w: _Work) -> None:
        """Run one attempt, then record its end and publish its events.

        Each end is recorded as it comes, sharing a transaction with the others finishing
        within `linger_seconds`, so the window in which a crash would repeat an already
        finished action is that linger plus one write, not the whole batch.
        """
        await self._carry_out(w)
        await self._writes.submit([w.run])
        if w.run.terminal:
            if not await self._published(finished_run_events(w.invocation, w.run)):
                w.verdict = self._publish_again_later(w.run)
        elif w.attempt.number == 1:
            # Retrying: let watchers see it was triggered. Should this publish fail, the
            # outcome's publish carries the event again.
            await self._published([triggered_event(w.invocation, w.run.workspace)])

    async def _carry_out(self, w: _Work) -> None:
        invocation = w.invocation
        executor = self.executors.get(invocation.action_type)
        outcome: ActionOutcome | None = None
        failure: ActionFailed | None = None
        async with self._slots:
            started = time.monotonic()
            try:
                if executor is None:
                    raise ActionFailed(
                        f"this service cannot carry out {invocation.action_type!r} actions"
                    )
                outcome = await executor(invocation)
            except ActionFailed as exc:
                failure = exc
            except Exception as exc:  # a bug in an executor must not stop the others
                log.exception("action %s (%s) raised", invocation.action_id, invocation.action_type)
                failure = TransientFailure(f"internal error: {type(exc).__name__}: {exc}")
        now = self.clock()
        attempt = replace(w.attempt, duration_seconds=round(time.monotonic() - started, 6))
        run = replace(w.run, attempts=[*w.run.attempts[:-1], attempt], updated=now)
        if outcome is not None:
            w.run = replace(
                _finish(run, RunState.SUCCEEDED, now, ""),
                result=outcome.result,
                rendered_request=outcome.rendered_request,
                resulting_related=outcome.resulting_related,
            )
            return
        assert failure is not None
        attempt = replace(attempt, error=failure.reason, transient=failure.transient)
        run = replace(
            run,
            attempts=[*run.attempts[:-1], attempt],
            result=failure.result,
            rendered_request=failure.rendered_request,
            resulting_related=failure.resulting_related,
            reason=failure.reason,
        )
        if failure.transient and attempt.number < self.retry.max_attempts:
            delay = self.retry.delay_after(attempt.number)
            w.run = replace(run, state=RunState.RETRYING)
            w.verdict = Verdict("nak", delay)
            log.info(
                "action %s attempt %d failed (%s); retrying in %.2f s",
                invocation.action_id,
                attempt.number,
                failure.reason,
                delay,
            )
            return
        reason = failure.reason
        if failure.transient:
            reason = f"gave up after {attempt.number} attempts: {failure.reason}"
        w.run = _finish(run, RunState.FAILED, now, reason)

    async def _save(self, runs: list[ActionRun]) -> None:
        started = time.monotonic()
        await self.ledger.save(runs)
        _note_slow("recording %d action runs", len(runs), started)

    async def _published(self, events: list[OutgoingEvent]) -> bool:
        """Publish with the events of other actions finishing now; whether EVENTS took them."""
        try:
            await self._events.submit(events)
        except Exception as exc:
            log.warning("publishing %d action events failed (%s); will try again", len(events), exc)
            return False
        return True

    async def _emit_now(self, events: list[OutgoingEvent]) -> None:
        started = time.monotonic()
        await self.events.emit(events)
        _note_slow("publishing %d action events", len(events), started)

    def _publish_again_later(self, run: ActionRun) -> Verdict:
        """Nak a finished action whose events were not published: its redelivery publishes
        them again. The delay is the time since it finished, within the retry policy's
        bounds, so it doubles from one redelivery to the next while EVENTS stays away."""
        age = (self.clock() - (run.finished or run.updated)).total_seconds()
        return Verdict("nak", min(self.retry.cap_seconds, max(self.retry.base_seconds, age)))


class Coalescer(Generic[T]):
    """Hands items to `flush` in batches: everything submitted while the previous flush ran.

    Alone, an item is flushed after at most `linger` seconds (at once when 0); under load,
    flushes batch themselves (one ledger transaction, one pipelined publish for many
    actions): a transaction costs about as much as writing 20 rows in one, so lingering a
    few milliseconds divides the cost per action. A flush starts early once `max_items`
    are waiting. `submit` returns once its items were flushed, raising what flush raised.
    """

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[None]],
        linger: float = 0.0,
        max_items: int = 256,
    ) -> None:
        self._flush = flush
        self._linger = linger
        self._max_items = max_items
        self._pending: list[tuple[Sequence[T], asyncio.Future[None]]] = []
        self._count = 0
        self._full = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[T], *, urgent: bool = False) -> None:
        """Flush `items` with the others; `urgent` ones do not linger (someone waits)."""
        if not items:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((items, done))
        self._count += len(items)
        if urgent or self._count >= self._max_items:
            self._full.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await done

    async def _write(self) -> None:
        while self._pending:
            if self._linger > 0 and not self._full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._linger)
            batch, self._pending = self._pending, []
            self._count = 0
            self._full.clear()
            try:
                await self._flush([item for items, _ in batch for item in items])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)


# A ledger or broker round trip slower than this is logged: actions wait on each one.
SLOW_SECONDS = 0.2


def _note_slow(what: str, count: int, started: float) -> None:
    took = time.monotonic() - started
    if took > SLOW_SECONDS:
        log.warning(what + " took %.0f ms", count, took * 1000)


def _new_run(invocation: ActionInvocation, workspace: str, now: datetime) -> ActionRun:
    event = invocation.triggering_event or {}
    return ActionRun(
        id=invocation.action_id,
        workspace=workspace,
        automation_id=str(invocation.automation.get("id", "")),
        automation_name=str(invocation.automation.get("name", "")),
        action_index=invocation.action_index,
        action_type=invocation.action_type,
        state=RunState.PENDING,
        firing_id=str(invocation.firing.get("id", "")),
        triggering_event_id=str(event.get("id", "")),
        created=now,
        updated=now,
    )


def _next_attempt(run: ActionRun, now: datetime) -> ActionRun:
    attempt = Attempt(number=len(run.attempts) + 1, started=now)
    return replace(run, state=RunState.RUNNING, updated=now, attempts=[*run.attempts, attempt])


def _finish(run: ActionRun, state: RunState, now: datetime, reason: str) -> ActionRun:
    return replace(run, state=state, reason=reason, updated=now, finished=now)
