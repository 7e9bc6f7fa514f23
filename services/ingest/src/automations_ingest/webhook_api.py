"""WebhookService over gRPC: converts requests and delegates to the webhook store."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import grpc

from automations.v1 import webhook_pb2
from automations.v1 import webhook_service_pb2 as pb
from automations.v1 import webhook_service_pb2_grpc as pb_grpc
from automations_common.errors import InvalidArgument
from automations_common.ids import new_id, parse_uuid
from automations_common.paging import clamp_page_size, decode_page_token, encode_page_token
from automations_common.timestamps import to_timestamp
from automations_ingest.webhook_store import WebhookStore
from automations_ingest.webhooks import (
    DEFAULT_SIGNATURE_HEADER,
    HMAC_SHA256,
    MASK,
    NONE,
    SHARED_SECRET,
    Webhook,
    check_definition,
)

Context = grpc.aio.ServicerContext[Any, Any]

_TO_DOMAIN = {
    webhook_pb2.WEBHOOK_VERIFICATION_UNSPECIFIED: NONE,
    webhook_pb2.WEBHOOK_VERIFICATION_NONE: NONE,
    webhook_pb2.WEBHOOK_VERIFICATION_SHARED_SECRET: SHARED_SECRET,
    webhook_pb2.WEBHOOK_VERIFICATION_HMAC_SHA256: HMAC_SHA256,
}
_TO_PROTO = {
    NONE: webhook_pb2.WEBHOOK_VERIFICATION_NONE,
    SHARED_SECRET: webhook_pb2.WEBHOOK_VERIFICATION_SHARED_SECRET,
    HMAC_SHA256: webhook_pb2.WEBHOOK_VERIFICATION_HMAC_SHA256,
}
_UPDATABLE = {
    "name",
    "description",
    "slug",
    "template",
    "enabled",
    "verification",
    "signature_header",
    "secret",
}
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def to_proto(webhook: Webhook) -> webhook_pb2.Webhook:
    """The webhook as callers see it: the secret is never returned."""
    return webhook_pb2.Webhook(
        id=webhook.id,
        name=webhook.name,
        description=webhook.description,
        slug=webhook.slug,
        template=webhook.template,
        enabled=webhook.enabled,
        verification=_TO_PROTO.get(webhook.verification, webhook_pb2.WEBHOOK_VERIFICATION_NONE),
        signature_header=webhook.signature_header,
        secret=MASK if webhook.secret else "",
        create_time=to_timestamp(webhook.created),
        update_time=to_timestamp(webhook.updated),
        workspace=webhook.workspace,
    )


def _fields(message: webhook_pb2.Webhook) -> dict[str, Any]:
    verification = _TO_DOMAIN.get(message.verification)
    if verification is None:
        raise InvalidArgument.for_field("webhook.verification", "unknown verification")
    return {
        "name": message.name,
        "description": message.description,
        "slug": message.slug,
        "template": message.template,
        "enabled": message.enabled,
        "verification": verification,
        "signature_header": message.signature_header,
        "secret": message.secret,
    }


def _with_defaults(webhook: Webhook) -> Webhook:
    if webhook.verification != NONE and not webhook.signature_header:
        webhook = replace(webhook, signature_header=DEFAULT_SIGNATURE_HEADER)
    return webhook


class WebhookApi(pb_grpc.WebhookServiceServicer):
    def __init__(self, store: WebhookStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    async def CreateWebhook(  # noqa: N802
        self, request: pb.CreateWebhookRequest, context: Context
    ) -> pb.CreateWebhookResponse:
        now = self._clock()
        fields = _fields(request.webhook)
        fields["slug"] = fields["slug"] or secrets.token_hex(8)
        webhook = _with_defaults(
            Webhook(
                id=new_id(), created=now, updated=now, workspace=self._store.workspace, **fields
            )
        )
        check_definition(webhook)
        return pb.CreateWebhookResponse(webhook=to_proto(await self._store.create(webhook)))

    async def GetWebhook(  # noqa: N802
        self, request: pb.GetWebhookRequest, context: Context
    ) -> pb.GetWebhookResponse:
        webhook = await self._store.get(parse_uuid(request.id, "id"))
        return pb.GetWebhookResponse(webhook=to_proto(webhook))

    async def ListWebhooks(  # noqa: N802
        self, request: pb.ListWebhooksRequest, context: Context
    ) -> pb.ListWebhooksResponse:
        size = clamp_page_size(request.page_size, PAGE_SIZE, MAX_PAGE_SIZE)
        query = {"list": "webhooks", "size": size}
        position = decode_page_token(request.page_token, query) or {"offset": 0}
        offset = position.get("offset")
        if not isinstance(offset, int) or offset < 0:
            raise InvalidArgument.for_field("page_token", "is not a page token this service issued")
        webhooks = await self._store.list(size + 1, offset)
        token = ""
        if len(webhooks) > size:
            webhooks = webhooks[:size]
            token = encode_page_token(query, {"offset": offset + size})
        return pb.ListWebhooksResponse(
            webhooks=[to_proto(w) for w in webhooks], next_page_token=token
        )

    async def UpdateWebhook(  # noqa: N802
        self, request: pb.UpdateWebhookRequest, context: Context
    ) -> pb.UpdateWebhookResponse:
        current = await self._store.get(parse_uuid(request.webhook.id, "webhook.id"))
        given = _fields(request.webhook)
        paths = list(request.update_mask.paths) if request.HasField("update_mask") else []
        unknown = [p for p in paths if p not in _UPDATABLE]
        if unknown:
            raise InvalidArgument.for_field(
                "update_mask", f"cannot update {', '.join(unknown)}; use {sorted(_UPDATABLE)}"
            )
        changes = {p: given[p] for p in paths} if paths else dict(given)
        if changes.get("secret") in ("", MASK):
            # An empty or masked secret means "keep the stored one".
            changes.pop("secret")
        if not changes.get("slug", True):
            changes.pop("slug")
        updated = _with_defaults(replace(current, updated=self._clock(), **changes))
        check_definition(updated)
        return pb.UpdateWebhookResponse(webhook=to_proto(await self._store.replace(updated)))

    async def DeleteWebhook(  # noqa: N802
        self, request: pb.DeleteWebhookRequest, context: Context
    ) -> pb.DeleteWebhookResponse:
        await self._store.delete(parse_uuid(request.id, "id"))
        return pb.DeleteWebhookResponse()

    async def _set_enabled(self, webhook_id: str, enabled: bool) -> webhook_pb2.Webhook:
        current = await self._store.get(parse_uuid(webhook_id, "id"))
        updated = replace(current, enabled=enabled, updated=self._clock())
        return to_proto(await self._store.replace(updated))

    async def EnableWebhook(  # noqa: N802
        self, request: pb.EnableWebhookRequest, context: Context
    ) -> pb.EnableWebhookResponse:
        return pb.EnableWebhookResponse(webhook=await self._set_enabled(request.id, True))

    async def DisableWebhook(  # noqa: N802
        self, request: pb.DisableWebhookRequest, context: Context
    ) -> pb.DisableWebhookResponse:
        return pb.DisableWebhookResponse(webhook=await self._set_enabled(request.id, False))
