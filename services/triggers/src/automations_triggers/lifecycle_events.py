"""`prefect.automation.created|updated|deleted` as messages on EVENTS, through the outbox."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from automations.v1 import event_pb2 as epb
from automations_common.broker import OutgoingMessage
from automations_common.structs import dict_to_struct
from automations_common.timestamps import to_timestamp
from automations_triggers.automations import LifecycleEvent

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[OutgoingMessage]], Awaitable[object]]


def lifecycle_event(event: LifecycleEvent) -> epb.Event:
    """The event of reference §6.6: the automation's id and name as the resource, nothing
    related, its Prefect JSON as the payload."""
    automation = event.automation
    moment = to_timestamp(event.occurred)
    return epb.Event(
        id=event.id,
        occurred_time=moment,
        # Nothing stamps events this service publishes itself (as for triggered/resolved).
        received_time=moment,
        event=event.name,
        resource=epb.Resource(
            labels={
                "prefect.resource.id": f"prefect.automation.{automation.id}",
                "prefect.resource.name": automation.name,
            }
        ),
        payload=dict_to_struct(automation.to_prefect_json()),
    )


class LifecycleOutbox:
    """Gives the store the outbox row of a lifecycle event (written in the transaction of
    the change it announces) and publishes the event once that has committed.

    `publish` hands messages to the engine runner, which owns this scope's outbox: once
    JetStream has stored them their rows go with its next commit, and one it could not
    publish is tried again by its next publisher (or at the next start).
    """

    def __init__(self, subject: str, scope: str, publish: Publish) -> None:
        self._subject = subject
        self._scope = scope
        self._publish = publish

    def message(self, event: LifecycleEvent) -> OutgoingMessage:
        return OutgoingMessage(self._subject, lifecycle_event(event).SerializeToString(), event.id)

    def row(self, event: LifecycleEvent) -> dict[str, Any]:
        """The values of its `trigger_outbox` row."""
        message = self.message(event)
        return {
            "workspace": self._scope,
            "msg_id": message.msg_id,
            "subject": message.subject,
            "data": message.data,
        }

    async def publish(self, event: LifecycleEvent) -> None:
        """Never raises: the change is committed and the request reports it."""
        try:
            await self._publish([self.message(event)])
        except Exception as exc:
            log.warning(
                "could not publish %s for automation %s (event %s) now: %s; it stays in the "
                "outbox and is published again later",
                event.name,
                event.automation.id,
                event.id,
                exc,
            )
