"""Drives the trigger engine: event batches, deadlines and automation changes.

Every engine call happens under one lock (the engine is single-threaded by contract) and
its state changes are committed together with the messages they produce (the outbox).
Only then are the messages published; they leave the outbox once JetStream has stored
them. A crash anywhere replays into the same message ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from automations.v1 import event_pb2 as epb
from automations_common.broker import OutgoingMessage
from automations_common.streams import Streams
from automations_triggers.convert_events import event_to_model
from automations_triggers.documents import AutomationDocument
from automations_triggers.engine import Engine, Result
from automations_triggers.loaded import LoadedAutomations
from automations_triggers.publisher import firing_messages
from automations_triggers.state import StateChanges
from automations_triggers.state_store import EngineStateStore

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[OutgoingMessage]], Awaitable[object]]
# The longest the deadline loop sleeps: reactive sweeps and lost followers happen there too.
MAX_IDLE_SECONDS = 5.0
# Proactive buckets fired per transaction: when thousands of windows end together, the
# first firings go out after one chunk is committed and published, not after all of them.
DUE_CHUNK = 500
PUBLISHES_IN_FLIGHT = 2


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EngineRunner:
    def __init__(
        self,
        state: EngineStateStore,
        automations: LoadedAutomations,
        publish: Publish,
        streams: Streams,
        workspace: str,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._state = state
        self._automations = automations
        self._publish = publish
        self._streams = streams
        self._workspace = workspace
        self._clock = clock
        self._engine = Engine()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        # Committed messages not yet known to be stored by JetStream: waiting to be taken
        # by a publisher, or taken and in flight. The consumer and the deadline loop both
        # publish; each message goes out through one of them at a time.
        self._pending: dict[str, OutgoingMessage] = {}
        self._inflight: dict[str, OutgoingMessage] = {}
        # Stored by JetStream, still in the outbox table: deleted with the next commit (or
        # when the deadline loop goes idle, at most MAX_IDLE_SECONDS later), well inside
        # JetStream's 10-minute duplicate window should a crash republish them.
        self._stored: list[str] = []

    def is_loaded(self, automation_id: str) -> bool:
        return automation_id in self._automations

    # -- start-up and automations ------------------------------------------------------------

    async def restore(self) -> None:
        """Reload persisted state and unpublished messages; call before loading automations."""
        async with self._lock:
            self._engine = Engine()
            self._engine.restore_state(await self._state.load_rows())
            for message in await self._state.load_outbox():
                self._pending[message.msg_id] = message

    async def replace_all(self, docs: Sequence[AutomationDocument]) -> None:
        async with self._lock:
            changes = self._engine.load(self._automations.replace_all(docs))
            await self._commit(changes, [])
        self._wake.set()

    async def put(self, doc: AutomationDocument) -> None:
        async with self._lock:
            engine_automation = self._automations.put(doc)
            if engine_automation is None:
                changes = self._engine.remove(doc.id)
            else:
                changes = self._engine.upsert(engine_automation)
            await self._commit(changes, [])
        self._wake.set()

    async def remove(self, automation_id: str) -> None:
        async with self._lock:
            self._automations.remove(automation_id)
            await self._commit(self._engine.remove(automation_id), [])

    # -- events ------------------------------------------------------------------------------

    async def handle(
        self, batch: Sequence[epb.Event], caught_up: bool = False
    ) -> list[OutgoingMessage]:
        """Evaluate a batch of events (in stream order) and commit; the messages to publish
        (then call `published`, or `unpublished` if that failed). `caught_up`: nothing was
        left on the stream after this batch, so the events clock is the wall clock."""
        async with self._lock:
            if batch:
                protos = {event.id: event for event in batch}
                result = self._engine.process([event_to_model(e) for e in batch], self._clock())
                if caught_up:
                    self._engine.caught_up()
                await self._commit(result.changes, self._messages(result, protos))
            pending = self._take_pending()
        self._wake.set()  # new buckets may end before the deadline loop's current sleep
        return pending

    async def published(self, messages: Sequence[OutgoingMessage]) -> None:
        """JetStream stored these: they leave the outbox with the next transaction."""
        async with self._lock:
            for message in messages:
                if self._inflight.pop(message.msg_id, None) is not None:
                    self._stored.append(message.msg_id)

    async def clear_stored(self) -> None:
        """Delete the outbox rows of stored messages now (nothing else to commit)."""
        async with self._lock:
            if self._stored:
                await self._commit(StateChanges(), [])

    async def unpublished(self, messages: Sequence[OutgoingMessage]) -> None:
        """Publishing these failed: the next publisher takes them again."""
        async with self._lock:
            for message in messages:
                if self._inflight.pop(message.msg_id, None) is not None:
                    self._pending[message.msg_id] = message

    async def publish_committed(self, messages: Sequence[OutgoingMessage]) -> None:
        """Publish messages another transaction put in this runner's outbox (the API's
        automation lifecycle events). They leave it like the engine's own; if publishing
        fails (raised here too) they wait for the next publisher, as failed firings do."""
        taken = list(messages)
        for message in taken:
            self._inflight[message.msg_id] = message
        await self._publish_taken(taken)

    def _take_pending(self) -> list[OutgoingMessage]:
        taken = list(self._pending.values())
        self._inflight.update(self._pending)
        self._pending = {}
        return taken

    async def _publish_taken(self, messages: list[OutgoingMessage]) -> None:
        if not messages:
            return
        try:
            await self._publish(messages)
        except BaseException:
            await self.unpublished(messages)
            raise
        await self.published(messages)

    # -- deadlines ---------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run_deadlines(self) -> None:
        """Fire proactive windows when they end (not on a poll), sweep, release followers.

        A chunk's messages are published while the next chunk is evaluated and committed
        (at most PUBLISHES_IN_FLIGHT chunks at a time); each leaves the outbox only once
        JetStream has stored it, as on the consumer's path."""
        publishing: list[asyncio.Task[None]] = []
        try:
            while not self._stopping.is_set():
                deadline = self._engine.next_deadline()
                delay = MAX_IDLE_SECONDS
                if deadline is not None:
                    delay = min(delay, max(0.0, (deadline - self._clock()).total_seconds()))
                self._wake.clear()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
                    if not self._wake.is_set():
                        # Quiet for a while: the outbox rows of stored messages go now. While
                        # batches keep coming (each one wakes this loop) they leave with the
                        # next batch's transaction instead of costing one of their own.
                        await self._idle_clear()
                        # And messages that failed to publish are tried again, not only
                        # when the next batch or deadline comes.
                        async with self._lock:
                            retry = self._take_pending()
                        if retry:
                            publishing.append(asyncio.create_task(self._publish_taken(retry)))
                if self._stopping.is_set():
                    return
                deadline = self._engine.next_deadline()
                if deadline is not None and deadline > self._clock():
                    continue  # woken early: sleep again until the (possibly new) deadline
                try:
                    pending = await self._run_due()
                except Exception:
                    log.exception("evaluating deadlines failed; retrying")
                    await asyncio.sleep(1.0)
                    continue
                if pending:
                    publishing.append(asyncio.create_task(self._publish_taken(pending)))
                for task in [t for t in publishing if t.done()]:
                    publishing.remove(task)
                    await self._settle(task)
                while len(publishing) > PUBLISHES_IN_FLIGHT:
                    await self._settle(publishing.pop(0))
        finally:
            for task in publishing:
                await self._settle(task)
            await self._idle_clear()

    async def _idle_clear(self) -> None:
        try:
            await self.clear_stored()
        except Exception:
            log.exception("clearing the outbox failed; retrying later")

    @staticmethod
    async def _settle(task: asyncio.Task[None]) -> None:
        try:
            await task
        except Exception:
            # Already back in the pending set (`unpublished`): the next publisher retries.
            log.exception("publishing firings failed; they stay in the outbox")

    async def _run_due(self) -> list[OutgoingMessage]:
        async with self._lock:
            result = self._engine.due(self._clock(), DUE_CHUNK)
            await self._commit(result.changes, self._messages(result, {}))
            return self._take_pending()

    async def flush(self) -> None:
        """Publish what an earlier run committed but did not get stored."""
        async with self._lock:
            pending = self._take_pending()
        if pending:
            log.info("publishing %d messages left in the outbox", len(pending))
        await self._publish_taken(pending)

    # -- internals ---------------------------------------------------------------------------

    def _messages(self, result: Result, protos: dict[str, epb.Event]) -> list[OutgoingMessage]:
        messages: list[OutgoingMessage] = []
        for firing in result.firings:
            automation = self._automations.get(firing.automation_id)
            if automation is None:
                continue
            event = firing.triggering_event
            # Deadline firings have no message: firing_messages rebuilds it cheaply.
            proto = protos.get(event.id) if event is not None else None
            log.info(
                "automation %s (%s) %s",
                automation.document.name,
                firing.automation_id,
                "/".join(sorted(firing.states)),
            )
            messages.extend(
                firing_messages(firing, automation, proto, self._streams, self._workspace)
            )
        return messages

    async def _commit(self, changes: StateChanges, messages: list[OutgoingMessage]) -> None:
        stored = self._stored
        try:
            await self._state.commit(changes, messages, stored)
        except Exception:
            # Memory is ahead of the database now: rebuild it from what was committed, so
            # the redelivered events are evaluated again from that state.
            log.exception("committing trigger state failed; reloading state from the database")
            await self._rebuild()
            raise
        self._stored = self._stored[len(stored) :]
        for message in messages:
            self._pending[message.msg_id] = message

    async def _rebuild(self) -> None:
        engine = Engine()
        with contextlib.suppress(Exception):
            engine.restore_state(await self._state.load_rows())
        engine.load(self._automations.engine_automations())
        self._engine = engine
