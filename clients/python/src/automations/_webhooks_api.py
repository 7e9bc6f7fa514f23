"""WebhookService calls: manage the incoming webhooks of the ingest service."""

from __future__ import annotations

from automations import _convert
from automations._errors import NotFoundError
from automations._transport import Transport
from automations._webhooks import IncomingWebhook
from automations.v1 import webhook_service_pb2


class WebhooksApi(Transport):
    """WebhookService calls: manage the incoming webhooks of the ingest service."""

    async def create_webhook(self, webhook: IncomingWebhook) -> IncomingWebhook:
        """Stores a new webhook (a slug is generated when empty); ALREADY_EXISTS if taken."""
        response = await self._call(
            self._stubs().webhooks.CreateWebhook,
            webhook_service_pb2.CreateWebhookRequest(webhook=_convert.webhook_to_proto(webhook)),
        )
        return _convert.webhook_from_proto(response.webhook)

    async def get_webhook(self, id: str) -> IncomingWebhook:
        response = await self._call(
            self._stubs().webhooks.GetWebhook, webhook_service_pb2.GetWebhookRequest(id=id)
        )
        return _convert.webhook_from_proto(response.webhook)

    async def list_webhooks(self) -> list[IncomingWebhook]:
        found: list[IncomingWebhook] = []
        token = ""
        while True:
            response = await self._call(
                self._stubs().webhooks.ListWebhooks,
                webhook_service_pb2.ListWebhooksRequest(page_size=100, page_token=token),
            )
            found.extend(_convert.webhook_from_proto(w) for w in response.webhooks)
            token = response.next_page_token
            if not token:
                return found

    async def update_webhook(self, webhook: IncomingWebhook) -> IncomingWebhook:
        """Replaces the webhook with `webhook.id`; a masked secret keeps the stored one."""
        if not webhook.id:
            raise ValueError("update needs a webhook with an id")
        response = await self._call(
            self._stubs().webhooks.UpdateWebhook,
            webhook_service_pb2.UpdateWebhookRequest(webhook=_convert.webhook_to_proto(webhook)),
        )
        return _convert.webhook_from_proto(response.webhook)

    async def delete_webhook(self, id: str) -> bool:
        """True, or False when it was already gone."""
        try:
            await self._call(
                self._stubs().webhooks.DeleteWebhook,
                webhook_service_pb2.DeleteWebhookRequest(id=id),
            )
        except NotFoundError:
            return False
        return True

    async def enable_webhook(self, id: str) -> IncomingWebhook:
        response = await self._call(
            self._stubs().webhooks.EnableWebhook, webhook_service_pb2.EnableWebhookRequest(id=id)
        )
        return _convert.webhook_from_proto(response.webhook)

    async def disable_webhook(self, id: str) -> IncomingWebhook:
        response = await self._call(
            self._stubs().webhooks.DisableWebhook,
            webhook_service_pb2.DisableWebhookRequest(id=id),
        )
        return _convert.webhook_from_proto(response.webhook)
