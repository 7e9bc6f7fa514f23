"""Emitting events: `emit_event` for one, `emit_events` for many, `EventEmitter` for streams."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from automations._client import AutomationsClient, resolve_client
from automations._errors import EventRejectedError, UnavailableError
from automations._events import EmitResult, Event, RejectedEvent, Resource, follows_id, uuid7

Send = Callable[[list[Event]], Awaitable[EmitResult]]


Labels = Mapping[str, str] | Resource


def _labels(resource: Labels) -> Resource:
    return Resource(dict(resource.root if isinstance(resource, Resource) else resource))


def _build_event(
    event: str,
    resource: Labels,
    occurred: datetime | None,
    related: Iterable[Labels] | None,
    payload: Mapping[str, Any] | None,
    id: UUID | None,
    follows: Event | None,
) -> Event:
    when = occurred or datetime.now(UTC)
    return Event(
        occurred=when,
        event=event,
        resource=_labels(resource),
        related=[_labels(r) for r in related or []],
        payload=dict(payload or {}),
        id=id or uuid7(),
        follows=follows_id(when, follows),
    )


def _accepted_or_raise(event: Event, result: EmitResult) -> Event:
    if result.rejected:
        reasons = "; ".join(
            f"{r.field}: {r.reason}" if r.field else r.reason for r in result.rejected
        )
        raise EventRejectedError(f"event {event.event!r} was rejected: {reasons}", result.rejected)
    return event


async def aemit_event(
    event: str,
    resource: Labels,
    occurred: datetime | None = None,
    related: Iterable[Labels] | None = None,
    payload: Mapping[str, Any] | None = None,
    id: UUID | None = None,
    follows: Event | None = None,
    client: AutomationsClient | None = None,
) -> Event:
    """Sends one event and returns it. `follows` is kept only when the two events are
    less than 5 minutes apart (as in Prefect). EventRejectedError says why it was refused."""
    built = _build_event(event, resource, occurred, related, payload, id, follows)
    result = await resolve_client(client).emit_events([built])
    return _accepted_or_raise(built, result)


def emit_event(
    event: str,
    resource: Labels,
    occurred: datetime | None = None,
    related: Iterable[Labels] | None = None,
    payload: Mapping[str, Any] | None = None,
    id: UUID | None = None,
    follows: Event | None = None,
    client: AutomationsClient | None = None,
) -> Event:
    resolved = resolve_client(client)
    return resolved.run_sync(
        aemit_event(event, resource, occurred, related, payload, id, follows, resolved)
    )


async def aemit_events(
    events: Iterable[Event | Mapping[str, Any]], client: AutomationsClient | None = None
) -> EmitResult:
    """Sends events in batches of 500; the result lists accepted ids and refused events."""
    return await resolve_client(client).emit_events(events)


def emit_events(
    events: Iterable[Event | Mapping[str, Any]], client: AutomationsClient | None = None
) -> EmitResult:
    resolved = resolve_client(client)
    return resolved.run_sync(resolved.emit_events(list(events)))


class EventEmitter:
    """Buffers events for high-rate producers and sends them in batches.

    A batch goes out when `max_batch` events are waiting or `flush_interval` seconds have
    passed. A batch that fails with UnavailableError is sent again, with the same event ids
    (the server drops duplicates), up to `max_attempts` times. Refused events are collected
    in `rejected`. Use `async with EventEmitter(...) as emitter: await emitter.emit(...)`.
    """

    def __init__(
        self,
        client: AutomationsClient | None = None,
        *,
        max_batch: int = 500,
        flush_interval: float = 0.5,
        max_attempts: int = 5,
        retry_delay: float = 0.2,
        send: Send | None = None,
    ) -> None:
        self._send: Send = send or resolve_client(client).emit_events
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self._buffer: list[Event] = []
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self.accepted_count = 0
        self.rejected: list[RejectedEvent] = []

    async def __aenter__(self) -> EventEmitter:
        self._ticker = asyncio.create_task(self._tick(), name="automations-event-emitter")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def emit(self, event: Event | Mapping[str, Any]) -> Event:
        """Queues one event (sending a batch when the buffer is full) and returns it."""
        model = event if isinstance(event, Event) else Event.model_validate(event)
        self._buffer.append(model)
        if len(self._buffer) >= self.max_batch:
            await self.flush()
        return model

    async def flush(self) -> None:
        """Sends everything waiting now."""
        async with self._lock:
            while self._buffer:
                batch = self._buffer[: self.max_batch]
                await self._send_with_retries(batch)
                del self._buffer[: len(batch)]

    async def _send_with_retries(self, batch: list[Event]) -> None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                result = await self._send(batch)
            except UnavailableError:
                if attempt == self.max_attempts:
                    raise
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
                continue
            self.accepted_count += result.accepted_count
            self.rejected.extend(result.rejected)
            return

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            if self._buffer:
                # The events stay buffered when the service is away; the next flush (by
                # size, by time or on close) sends them, and close() reports a failure.
                with contextlib.suppress(UnavailableError):
                    await self.flush()

    async def aclose(self) -> None:
        """Stops the timer and sends what is left."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.flush()
