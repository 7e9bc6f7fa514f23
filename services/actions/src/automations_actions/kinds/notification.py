"""send-notification: load the block, render subject and body, deliver through notify.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from automations_actions.blocks import Block, BlockTester
from automations_actions.kinds.base import (
    ActionFailed,
    ActionInvocation,
    ActionOutcome,
    Executor,
    TemplateRenderer,
    TransientFailure,
)
from automations_actions.kinds.webhook import block_related, load_block
from automations_actions.notify import NOTIFYING_KINDS, NotificationError, Notifier
from automations_common.templating import TemplateProblem

DEFAULT_SUBJECT = "Prefect automated notification"


class BlockReader(Protocol):
    """Loads a block with its secrets; raises NotFound when absent (blocks.Blocks does)."""

    async def load(self, block_id: str) -> Block: ...


@dataclass
class SendNotification:
    blocks: BlockReader
    notifier: Notifier
    renderer: TemplateRenderer

    async def __call__(self, invocation: ActionInvocation) -> ActionOutcome:
        action = invocation.action
        block = await load_block(
            self.blocks.load, str(action.get("block_document_id") or ""), NOTIFYING_KINDS
        )
        subject_source = str(action.get("subject") or DEFAULT_SUBJECT)
        body_source = str(action.get("body") or "")
        related = block_related(block)
        try:
            subject, body = await self.renderer.render_many(
                invocation, [subject_source, body_source]
            )
        except TemplateProblem as exc:
            source = await self._failing_source(invocation, subject_source, body_source)
            raise ActionFailed(
                f"Template rendering failed: {exc}",
                {"template_error": str(exc), "template_source": source[:1000]},
            ) from None
        try:
            delivery = await self.notifier.send(block, subject, body)
        except NotificationError as exc:
            result: dict[str, Any] = {"notification_log": exc.log, **exc.details}
            error = TransientFailure if exc.transient else ActionFailed
            raise error(f"Notification failed: {exc.message}", result) from None
        result = {"notification_log": delivery.log}
        if delivery.status_code is not None:
            result["status_code"] = delivery.status_code
        return ActionOutcome(
            result=result,
            resulting_related=related,
            rendered_request={**delivery.request, "subject": subject, "body": body},
        )

    async def _failing_source(self, invocation: ActionInvocation, subject: str, body: str) -> str:
        """Which of the two templates failed (only on the failure path, so cost is fine)."""
        try:
            await self.renderer.render_many(invocation, [subject])
        except TemplateProblem:
            return subject[:1000]
        return body[:1000]


def notification_executors(
    blocks: BlockReader, notifier: Notifier, renderer: TemplateRenderer
) -> dict[str, Executor]:
    return {"send-notification": SendNotification(blocks, notifier, renderer)}


def notification_testers(notifier: Notifier) -> dict[str, BlockTester]:
    """BlockService's "send a test message" for every block kind that can notify."""
    return {kind: notifier.test_message for kind in NOTIFYING_KINDS}
