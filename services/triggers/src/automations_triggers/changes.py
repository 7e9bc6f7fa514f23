"""Automation changes over core NATS: tell every evaluator to reload one automation."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from automations.v1 import stream_pb2 as spb
from automations_common.timestamps import to_timestamp

log = logging.getLogger(__name__)

_KINDS = {
    "created": spb.AUTOMATION_CHANGE_KIND_CREATED,
    "updated": spb.AUTOMATION_CHANGE_KIND_UPDATED,
    "deleted": spb.AUTOMATION_CHANGE_KIND_DELETED,
}


class NatsChangeNotifier:
    """Publishes AutomationChange after a change is committed (a hint, not a record:
    an evaluator that misses it catches up at its next reconcile)."""

    def __init__(self, subject: str, workspace: str) -> None:
        self._client: NatsClient | None = None
        self._subject = subject
        self._workspace = workspace

    def attach(self, client: NatsClient) -> None:
        """The connection to publish on; the API is built before NATS is connected."""
        self._client = client

    async def changed(self, automation_id: str, kind: str) -> None:
        if self._client is None:
            log.warning(
                "no NATS connection yet; automation %s is picked up by the reconcile", automation_id
            )
            return
        change = spb.AutomationChange(
            automation_id=automation_id,
            kind=_KINDS[kind],
            change_time=to_timestamp(datetime.now(UTC)),
            workspace=self._workspace,
        )
        try:
            await self._client.publish(self._subject, change.SerializeToString())
            await self._client.flush(timeout=2)
        except Exception as exc:  # the reconcile is the backstop; never fail the request
            log.warning("could not announce change of automation %s: %s", automation_id, exc)


async def subscribe_changes(
    client: NatsClient, subject: str, on_change: Callable[[str], Awaitable[None]]
) -> Subscription:
    async def handle(msg: Msg) -> None:
        try:
            change = spb.AutomationChange.FromString(msg.data)
        except Exception:
            log.warning("ignoring a malformed automation change on %s", subject)
            return
        await on_change(change.automation_id)

    return await client.subscribe(subject, cb=handle)
