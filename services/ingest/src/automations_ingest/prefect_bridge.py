"""Follows a Prefect server's `/api/events/out` websocket and publishes its events to EVENTS.

One background task: connect, authenticate (`prefect` subprotocol), send a filter that
starts a little before the last forwarded event, then forward frames in small batches
through the ingest publisher. Any disconnect or error leads to a reconnect with backoff;
the server backfills from the resume point, and ids seen recently are skipped. Anything
that still arrives twice (say after a service restart) is dropped by JetStream's
`Nats-Msg-Id` dedupe and by the store's insert-on-conflict-do-nothing.

Prefect's backfill reads only the events its persister has already written (it flushes
every 5 s), so an event emitted while the bridge was away and not yet written when it
reconnects would be missed. A catch-up query (`POST /api/events/filter`) shortly after
each connection, over the same window, closes that gap. It also covers what the socket
cannot: Prefect clamps the socket's backfill to 15 minutes, while the resume point, kept
through `ResumePoints` across service restarts, may be older.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.typing import Subprotocol

from automations.v1 import event_pb2
from automations_ingest.convert import record_to_proto
from automations_ingest.events import EventRecord
from automations_ingest.prefect_bridge_convert import (
    RecentIds,
    UnusableEventError,
    event_filter,
    event_from_prefect,
    filter_message,
    parse_frame,
    resume_since,
    socket_url,
)
from automations_ingest.publisher import EmitOutcome, utc_now

log = logging.getLogger(__name__)

Publish = Callable[[list[event_pb2.Event]], Awaitable[EmitOutcome | None]]
Clock = Callable[[], datetime]

PREFECT_SUBPROTOCOL = Subprotocol("prefect")


@dataclass(frozen=True)
class BridgeOptions:
    """Tuning for the bridge; app.py fills it from `INGEST_PREFECT_BRIDGE__*` settings."""

    # A Prefect Cloud API key, or a self-hosted server's auth string (`user:password`):
    # sent as the websocket's auth token, and as Bearer / Basic auth on the REST catch-up.
    api_key: str | None = None
    auth_string: str | None = None
    workspace: str = "default"
    batch_size: int = 100
    # A partial batch is published once the socket has been quiet this long.
    flush_seconds: float = 0.2
    # How far back the first connection asks for events; Prefect clamps to 15 min.
    initial_backfill: timedelta = timedelta(minutes=15)
    # How far back the catch-up query may go after a long absence (Prefect keeps events
    # 7 days by default).
    max_catch_up: timedelta = timedelta(days=7)
    # A reconnection resumes this long before the last forwarded event's `occurred`.
    resume_margin: timedelta = timedelta(minutes=1)
    # How far ahead `until` is set (the server sends no live event past it).
    until_ahead: timedelta = timedelta(days=365)
    recent_ids: int = 10_000
    exclude_event_prefixes: tuple[str, ...] = ()
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    open_timeout_seconds: float = 10.0
    # Prefect events may be 1.5 MB as JSON; leave room for the frame around them.
    max_frame_bytes: int = 8 * 1024 * 1024
    summary_every_seconds: float = 60.0
    # The catch-up query runs this long after connecting (Prefect flushes every 5 s).
    catch_up_delay_seconds: float = 10.0
    catch_up_page_limit: int = 50
    http_timeout_seconds: float = 30.0
    # The resume point is saved at most this often while events flow, and on stop.
    resume_save_seconds: float = 5.0

    @property
    def token(self) -> str | None:
        return self.api_key or self.auth_string

    def http_headers(self) -> dict[str, str]:
        if self.api_key:
            return {"Authorization": f"Bearer {self.api_key}"}
        if self.auth_string:
            encoded = base64.b64encode(self.auth_string.encode()).decode()
            return {"Authorization": f"Basic {encoded}"}
        return {}


class ResumePoints(Protocol):
    """Keeps the `occurred` of the newest forwarded event, so that a restarted service
    resumes there instead of `initial_backfill` back."""

    async def load(self) -> datetime | None: ...

    async def save(self, occurred: datetime) -> None: ...


class BridgeAuthError(Exception):
    """The Prefect server refused the auth token."""


def _backoff(attempt: int, options: BridgeOptions) -> float:
    ceiling = min(options.backoff_max_seconds, options.backoff_initial_seconds * 2**attempt)
    # Jitter, so that several ingest replicas do not reconnect in step.
    return float(ceiling * random.uniform(0.5, 1.0))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd
        if frame is not None:
            return f"connection closed by the server (code {frame.code}: {frame.reason or '-'})"
        return "connection lost"
    return f"{type(exc).__name__}: {exc}"


class PrefectBridge:
    """An optional event source: a Prefect server's event stream, forwarded to EVENTS."""

    def __init__(
        self,
        api_url: str,
        publish: Publish,
        options: BridgeOptions | None = None,
        clock: Clock = utc_now,
        resume_points: ResumePoints | None = None,
    ) -> None:
        self._url = socket_url(api_url)
        self._api_url = api_url.rstrip("/")
        self._publish = publish
        self._options = options or BridgeOptions()
        self._clock = clock
        self._recent = RecentIds(self._options.recent_ids)
        self._last_occurred: datetime | None = None
        self._resume_points = resume_points
        self._saved_occurred: datetime | None = None
        self._saved_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self.forwarded_total = 0
        self.connections = 0

    @property
    def connected(self) -> bool:
        """True once the filter is sent on the current connection."""
        return self._connected

    @property
    def url(self) -> str:
        return self._url

    async def start(self) -> None:
        """Start following the stream in the background; returns at once."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="prefect-bridge")

    async def stop(self) -> None:
        """Stop and close the socket. The resume point and recent ids are kept for a restart,
        and the resume point is saved."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._connected = False
        await self._save_resume_point(now=True)

    async def _run(self) -> None:
        await self._load_resume_point()
        attempt = 0
        while True:
            session_start = self.connections
            try:
                await self._session()
                problem = "the server closed the stream"
            except asyncio.CancelledError:
                raise
            except BridgeAuthError as exc:
                problem = f"authentication failed: {exc}"
            except Exception as exc:  # the bridge must never take the service down
                problem = _describe(exc)
            finally:
                self._connected = False
            if self.connections > session_start:
                attempt = 0
            delay = _backoff(attempt, self._options)
            attempt += 1
            log.warning(
                "prefect bridge: %s; reconnecting to %s in %.1f s", problem, self._url, delay
            )
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        options = self._options
        async with connect(
            self._url,
            subprotocols=[PREFECT_SUBPROTOCOL],
            open_timeout=options.open_timeout_seconds,
            max_size=options.max_frame_bytes,
        ) as socket:
            await self._authenticate(socket)
            now = self._clock()
            last, margin = self._last_occurred, options.resume_margin
            since = resume_since(last, now, margin, options.initial_backfill)
            catch_up_since = resume_since(last, now, margin, options.max_catch_up)
            if last is None:
                catch_up_since = since
            message = filter_message(
                since, now + options.until_ahead, options.exclude_event_prefixes
            )
            await socket.send(json.dumps(message))
            self.connections += 1
            self._connected = True
            log.info(
                "prefect bridge: connected to %s, resuming from %s%s",
                self._url,
                catch_up_since.isoformat(),
                " (no resume point: first connection)" if last is None else "",
            )
            catch_up = asyncio.create_task(
                self._catch_up(catch_up_since, now), name="prefect-catch-up"
            )
            try:
                await self._pump(socket)
            finally:
                catch_up.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await catch_up

    async def _authenticate(self, socket: ClientConnection) -> None:
        await socket.send(json.dumps({"type": "auth", "token": self._options.token}))
        try:
            async with asyncio.timeout(self._options.open_timeout_seconds):
                reply = json.loads(await socket.recv())
        except ConnectionClosed as exc:
            reason = exc.rcvd.reason if exc.rcvd is not None else ""
            raise BridgeAuthError(reason or _describe(exc)) from None
        except ValueError as exc:
            raise BridgeAuthError(f"the reply is not JSON: {exc}") from None
        if not isinstance(reply, dict) or reply.get("type") != "auth_success":
            reason = reply.get("reason", reply) if isinstance(reply, dict) else reply
            raise BridgeAuthError(str(reason))

    async def _pump(self, socket: ClientConnection) -> None:
        batch: list[EventRecord] = []
        forwarded = 0
        last_summary = time.monotonic()
        try:
            while True:
                try:
                    async with asyncio.timeout(self._options.flush_seconds if batch else None):
                        frame = await socket.recv()
                except TimeoutError:
                    forwarded += await self._forward(batch)
                    batch = []
                    continue
                record = self._convert(frame)
                if record is not None and not self._seen(record.id, batch):
                    batch.append(record)
                if len(batch) >= self._options.batch_size:
                    forwarded += await self._forward(batch)
                    batch = []
                if time.monotonic() - last_summary >= self._options.summary_every_seconds:
                    log.info(
                        "prefect bridge: %d events forwarded (%d in all)",
                        forwarded,
                        self.forwarded_total,
                    )
                    forwarded, last_summary = 0, time.monotonic()
        except ConnectionClosed as exc:
            # What arrived before the close is good: publish it before reconnecting.
            forwarded += await self._forward(batch)
            log.info("prefect bridge: %d events forwarded before the disconnect", forwarded)
            if isinstance(exc, ConnectionClosedOK):
                return
            raise

    async def _catch_up(self, since: datetime, connected_at: datetime) -> None:
        """Forward stored events of the resume window that the socket did not send."""
        options = self._options
        await asyncio.sleep(options.catch_up_delay_seconds)
        # The margin covers events stamped by a producer whose clock runs ahead.
        until = connected_at + options.resume_margin
        body = {
            "filter": event_filter(since, until, options.exclude_event_prefixes),
            "limit": options.catch_up_page_limit,
        }
        found = 0
        try:
            async with aiohttp.ClientSession(
                headers=options.http_headers(),
                timeout=aiohttp.ClientTimeout(total=options.http_timeout_seconds),
            ) as http:
                response = await http.post(f"{self._api_url}/events/filter", json=body)
                while True:
                    response.raise_for_status()
                    page = await response.json()
                    batch: list[EventRecord] = []
                    for data in page.get("events") or []:
                        record = self._convert_event(data)
                        if record is not None and not self._seen(record.id, batch):
                            batch.append(record)
                    found += await self._forward(batch)
                    next_page = page.get("next_page")
                    if not next_page:
                        break
                    response = await http.get(next_page)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed catch-up must not end the live stream
            log.warning("prefect bridge: catch-up from %s failed: %s", since.isoformat(), exc)
            return
        log.info(
            "prefect bridge: catch-up from %s forwarded %d events the stream had not sent",
            since.isoformat(),
            found,
        )

    def _seen(self, event_id: str, batch: Sequence[EventRecord]) -> bool:
        return event_id in self._recent or any(r.id == event_id for r in batch)

    def _convert(self, frame: str | bytes) -> EventRecord | None:
        try:
            data = parse_frame(frame)
        except UnusableEventError as exc:
            log.warning("prefect bridge: skipped a frame: %s", exc)
            return None
        return None if data is None else self._convert_event(data)

    def _convert_event(self, data: object) -> EventRecord | None:
        try:
            if not isinstance(data, dict):
                raise UnusableEventError("the event is not a JSON object")
            conversion = event_from_prefect(data, self._options.workspace)
        except UnusableEventError as exc:
            log.warning("prefect bridge: skipped an event: %s", exc)
            return None
        for note in conversion.notes:
            log.warning("prefect bridge: event %s: %s", conversion.record.id, note)
        return conversion.record

    async def _forward(self, batch: list[EventRecord]) -> int:
        """Publish a batch; only then count its ids as seen and move the resume point."""
        if not batch:
            return 0
        outcome = await self._publish([record_to_proto(r) for r in batch])
        if outcome is not None:
            for rejection in outcome.rejected:
                log.warning(
                    "prefect bridge: ingest refused event %s (%s): %s",
                    rejection.event_id,
                    rejection.field,
                    rejection.reason,
                )
        for record in batch:
            self._recent.add(record.id)
            if self._last_occurred is None or record.occurred > self._last_occurred:
                self._last_occurred = record.occurred
        self.forwarded_total += len(batch)
        log.debug("prefect bridge: forwarded %d events", len(batch))
        await self._save_resume_point()
        return len(batch)

    async def _load_resume_point(self) -> None:
        if self._resume_points is None or self._last_occurred is not None:
            return
        try:
            self._last_occurred = self._saved_occurred = await self._resume_points.load()
        except Exception as exc:  # the bridge must never take the service down
            log.warning("prefect bridge: could not read the saved resume point: %s", exc)

    async def _save_resume_point(self, now: bool = False) -> None:
        """Save the resume point if it moved, at most every `resume_save_seconds` unless
        `now`; a failure is logged and retried with the next batch."""
        occurred = self._last_occurred
        if self._resume_points is None or occurred is None or occurred == self._saved_occurred:
            return
        if not now and time.monotonic() - self._saved_at < self._options.resume_save_seconds:
            return
        self._saved_at = time.monotonic()
        try:
            await self._resume_points.save(occurred)
        except Exception as exc:  # the bridge must never take the service down
            log.warning("prefect bridge: could not save the resume point: %s", exc)
            return
        self._saved_occurred = occurred
