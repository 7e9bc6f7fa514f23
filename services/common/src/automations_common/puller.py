"""Batches from a durable pull consumer, gathered by one subscription callback.

nats-py's `PullSubscription.fetch` awaits every message with its own timer task (a uuid, a
task and a `wait_for` per message), which costs more than evaluating the event. This sends
the same JetStream pull requests (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`) and
collects the replies in a callback: first a `no_wait` request for what is available now;
when nothing is, a lingering one that returns as soon as the first message arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from automations_common.broker import subscribe_inline

log = logging.getLogger(__name__)

HEARTBEAT = "100"
# Any other status ends the request it answers: 404 no messages, 408 expired, 409 ...
QUIET_STATUSES = frozenset({"404", "408"})


class BatchPuller:
    """One batch request at a time; messages of a request that outlives its fetch (a
    lingering one) are kept, in arrival order, for the next fetch."""

    def __init__(self, nc: NatsClient, stream: str, consumer: str) -> None:
        self._nc = nc
        self._subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = nc.new_inbox()
        self._subscription: Subscription | None = None
        self._buffer: list[Msg] = []
        self._wanted = 0
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._subscription = await subscribe_inline(self._nc, self._inbox, self._on_message)

    async def close(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    def take_buffered(self) -> list[Msg]:
        """Messages delivered but not handed out (to give back on shutdown)."""
        msgs, self._buffer = self._buffer, []
        return msgs

    async def fetch(self, batch: int, wait: float) -> list[Msg]:
        """Up to `batch` messages: those available now, else the first within `wait` s."""
        if self._subscription is None:
            raise RuntimeError("start() the puller before fetching")
        if not self._buffer:
            await self._request({"batch": batch, "no_wait": True}, batch, wait)
        if not self._buffer:
            expires = max(1, int(wait * 1e9) - 100_000)
            await self._request({"batch": batch, "expires": expires}, 1, wait)
        msgs, self._buffer = self._buffer[:batch], self._buffer[batch:]
        return msgs

    async def _request(self, body: dict[str, object], wanted: int, wait: float) -> None:
        self._wanted = wanted
        self._ready.clear()
        await self._nc.publish(self._subject, json.dumps(body).encode(), reply=self._inbox)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), wait)

    def _on_message(self, msg: Msg) -> None:
        status = JetStreamContext.is_status_msg(msg)
        if status is None:
            self._buffer.append(msg)
            if len(self._buffer) >= self._wanted:
                self._ready.set()
        elif status != HEARTBEAT:
            if status not in QUIET_STATUSES:
                description = msg.headers.get("Description", "") if msg.headers else ""
                log.info("pull request ended: %s %s", status, description)
            self._ready.set()
