"""NATS connection, stream bootstrap and pipelined JetStream publishing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from automations_common.errors import Unavailable

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
MSG_ID_HEADER_BYTES = f"{MSG_ID_HEADER}: ".encode()
_ACK_SEQUENCE = re.compile(rb'"seq":\s*(\d+)')
_ACK_DUPLICATE = re.compile(rb'"duplicate":\s*true')
# A subject or message id as a frame may carry it: no white space (no CR or LF either).
_TOKEN = re.compile(r"\S+")


# Told False when the connection is lost (the client keeps reconnecting) or closed, and
# True when it is back; health checking follows it.
ConnectionListener = Callable[[bool], Awaitable[None]]


async def connect(
    url: str,
    name: str,
    timeout_seconds: float = 10.0,
    on_connection_change: ConnectionListener | None = None,
) -> NATS:
    """Connect, retrying until `timeout_seconds`, then fail with a message that says where.

    Once connected, the client reconnects by itself forever; `on_connection_change` hears
    of each loss and each return.
    """
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    last_error: Exception | None = None
    # Set once connected: a failed first attempt may call the callbacks too.
    client: NATS | None = None

    async def notify(up: bool) -> None:
        if client is None or on_connection_change is None:
            return
        try:
            await on_connection_change(up)
        except Exception:  # never into nats-py's reconnect loop: it would stop reconnecting
            log.exception("reporting the NATS connection's state failed")

    async def disconnected() -> None:
        if client is not None and client.is_closed:
            log.info("closed the NATS connection to %s", url)
        else:
            log.warning("lost the NATS connection to %s; reconnecting", url)
        await notify(False)

    async def reconnected() -> None:
        log.info("reconnected to NATS at %s", url)
        await notify(True)

    while asyncio.get_running_loop().time() < deadline:
        try:
            client = await nats.connect(
                url,
                name=name,
                connect_timeout=2,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                allow_reconnect=True,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
            )
            return client
        except Exception as exc:  # nats raises several unrelated types here
            last_error = exc
            await asyncio.sleep(0.25)
    raise Unavailable(
        f"cannot reach NATS at {url} ({last_error}); start it or set the NATS URL setting"
    )


async def ensure_streams(js: JetStreamContext, configs: Sequence[StreamConfig]) -> None:
    """Create the streams, or bring existing ones to the given configuration; the replicas
    of an existing stream are kept when it has more (an operator may have raised them)."""
    for config in configs:
        assert config.name is not None
        try:
            info = await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("created stream %s", config.name)
        else:
            replicas = max(config.num_replicas or 1, info.config.num_replicas or 1)
            await js.update_stream(dataclasses.replace(config, num_replicas=replicas))


class _Inline:
    """Stands in for the future of `subscribe(future=...)`: nats-py hands each message to
    `set_result` from its read loop, so `handle` runs at once, without the queue and the
    task a `cb` subscription puts between the socket and the callback (a put, a get and
    a task switch per message; reading acknowledgements was a third of ingest's profile)."""

    __slots__ = ("_handle", "_subject")

    def __init__(self, handle: Callable[[Msg], None], subject: str) -> None:
        self._handle = handle
        self._subject = subject

    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return False

    def set_result(self, msg: Msg) -> None:
        try:
            self._handle(msg)
        except Exception:  # never into nats-py's read loop: that would drop the connection
            log.exception("handling a message on %s failed", self._subject)


async def subscribe_inline(nc: NATS, subject: str, handle: Callable[[Msg], None]) -> Subscription:
    """Subscribe with a plain function called for each message as it is read.

    `handle` must be quick and must not block: it runs inside the client's read loop.
    """
    return await nc.subscribe(subject, future=cast(Any, _Inline(handle, subject)))


@dataclass(frozen=True)
class OutgoingMessage:
    subject: str
    data: bytes
    msg_id: str


@dataclass(frozen=True)
class PublishReceipt:
    """What JetStream said about a published batch."""

    # The highest stream sequence acknowledged (a duplicate acks its original's sequence).
    last_sequence: int
    # Messages JetStream already held (same `Nats-Msg-Id` within the duplicate window).
    duplicates: int


@dataclass
class _PendingBatch:
    done: asyncio.Future[PublishReceipt]
    remaining: int
    last_sequence: int = 0
    duplicates: int = 0


class JetStreamPublisher:
    """Publishes batches to JetStream with pipelined acknowledgements, one reply subject
    per batch.

    nats-py's `publish_async` spends a future, a semaphore turn, a unique inbox and a
    parsed PubAck object on every message; here a batch shares one future and one reply
    subject, and an acknowledgement only decrements a counter. That halves the CPU per
    published message, the cost that bounds ingest throughput.
    """

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._prefix = ""
        self._pending: dict[str, _PendingBatch] = {}
        self._next_batch = 0
        self._subscribing = asyncio.Lock()

    async def publish(
        self, messages: Sequence[OutgoingMessage], timeout_seconds: float = 10.0
    ) -> PublishReceipt:
        """Publish every message; return once JetStream has stored (or deduplicated) each.

        Raises Unavailable if a publish is refused or the acknowledgements do not arrive
        in time. The caller may retry the whole batch: `Nats-Msg-Id` makes that harmless.
        """
        if not messages:
            return PublishReceipt(0, 0)
        await self._subscribe_once()
        self._next_batch += 1
        key = str(self._next_batch)
        batch = _PendingBatch(asyncio.get_running_loop().create_future(), len(messages))
        self._pending[key] = batch
        reply = f"{self._prefix}{key}"
        try:
            await self._send(messages, reply)
            return await asyncio.wait_for(asyncio.shield(batch.done), timeout_seconds)
        except TimeoutError as exc:
            raise Unavailable(
                f"JetStream acknowledged {len(messages) - batch.remaining} of {len(messages)} "
                f"messages within {timeout_seconds:g} s"
            ) from exc
        except nats.errors.Error as exc:
            raise Unavailable(f"publishing to JetStream failed: {exc!r}") from exc
        finally:
            self._pending.pop(key, None)

    async def _send(self, messages: Sequence[OutgoingMessage], reply: str) -> None:
        """Write the batch's HPUB frames to the client's outgoing buffer in one piece.

        nats-py's `publish` builds and validates a header dict per message (~5 us); these
        frames take ~1.5 us each. The checks `publish` makes (closed, draining, a payload
        over the server's limit, whose frame the server would answer by closing the
        connection) are made here; a subject or id with white space, which would break the
        frame, is refused.
        """
        nc = self._nc
        limit = nc.max_payload
        frames = []
        for m in messages:
            if not (_TOKEN.fullmatch(m.subject) and _TOKEN.fullmatch(m.msg_id)):
                raise ValueError(f"cannot publish to {m.subject!r} with id {m.msg_id!r}")
            header = b"NATS/1.0\r\n" + MSG_ID_HEADER_BYTES + m.msg_id.encode() + b"\r\n\r\n"
            size = len(header) + len(m.data)
            if size > limit:
                raise nats.errors.MaxPayloadError
            frames.append(
                f"HPUB {m.subject} {reply} {len(header)} {size}\r\n".encode()
                + header
                + m.data
                + b"\r\n"
            )
        await _write_frames(nc, frames)

    async def _subscribe_once(self) -> None:
        async with self._subscribing:
            if not self._prefix:
                prefix = f"{self._nc.new_inbox()}."
                await subscribe_inline(self._nc, f"{prefix}*", self._on_ack)
                self._prefix = prefix

    def _on_ack(self, msg: Msg) -> None:
        batch = self._pending.get(msg.subject[len(self._prefix) :])
        if batch is None or batch.done.done():
            return  # a batch that timed out or already failed
        problem = _ack_problem(msg)
        if problem is not None:
            batch.done.set_exception(Unavailable(f"JetStream refused a message: {problem}"))
            return
        # A PubAck is a small JSON object (`{"stream":"E", "seq":7,"duplicate": true}`);
        # reading two fields with a regex costs a fraction of `json.loads` on this path.
        sequence = _ACK_SEQUENCE.search(msg.data)
        if sequence is not None:
            batch.last_sequence = max(batch.last_sequence, int(sequence[1]))
        if _ACK_DUPLICATE.search(msg.data):
            batch.duplicates += 1
        batch.remaining -= 1
        if batch.remaining == 0:
            batch.done.set_result(PublishReceipt(batch.last_sequence, batch.duplicates))


def _ack_problem(msg: Msg) -> str | None:
    """Why an acknowledgement is a refusal, or None for a PubAck."""
    if not msg.data:
        # A status message: 503 when no stream listens on the subject.
        status = (msg.headers or {}).get("Status", "")
        return f"no stream stores this subject (status {status or 'unknown'})"
    if b'"error"' in msg.data:
        error = json.loads(msg.data).get("error", {})
        return str(error.get("description") or error)
    return None


async def acknowledge(messages: Sequence[Msg]) -> None:
    """Ack JetStream messages in one write: what `Msg.ack` sends (an empty message to
    the reply subject), without a `publish` call per message, since the consumers ack
    every event they take."""
    by_client: dict[int, tuple[NATS, list[bytes]]] = {}
    for message in messages:
        if not message.reply:
            raise nats.errors.NotJSMessageError
        if message._ackd:
            raise nats.errors.MsgAlreadyAckdError(message)
        client = message._client
        by_client.setdefault(id(client), (client, []))[1].append(
            f"PUB {message.reply} 0\r\n\r\n".encode()
        )
    for client, frames in by_client.values():
        await _write_frames(client, frames)
    for message in messages:
        message._ackd = True


async def _write_frames(nc: NATS, frames: list[bytes]) -> None:
    """Queue protocol frames in one piece and wake the flusher, the two steps nats-py's
    `publish` ends with (nats-py 2.16's private methods, pinned in constraints.txt;
    tests/integration/test_infrastructure.py checks the result)."""
    if nc.is_closed:
        raise nats.errors.ConnectionClosedError
    if nc.is_draining_pubs:
        raise nats.errors.ConnectionDrainingError
    await nc._send_command(b"".join(frames))
    if nc._flush_queue is not None and nc._flush_queue.empty():
        await nc._flush_pending()
