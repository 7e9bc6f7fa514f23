"""The `/hooks/{slug}` HTTP endpoint: a request becomes an event, published like any other."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from automations_common.errors import ServiceError
from automations_common.ids import new_id
from automations_ingest.convert import record_to_proto
from automations_ingest.publisher import EventPublisher
from automations_ingest.settings import EventLimits
from automations_ingest.webhook_store import WebhookStore
from automations_ingest.webhooks import (
    IncomingRequest,
    RenderContext,
    WebhookRequestError,
    render_event,
    verify,
)

log = logging.getLogger(__name__)

# Room for form encoding or envelope around a maximal event.
BODY_SLACK_BYTES = 512 * 1024


class WebhookHttpServer:
    """A small aiohttp server; answers 202 with the event id, or 4xx/503 with the reason."""

    def __init__(
        self,
        store: WebhookStore,
        publisher: EventPublisher,
        limits: EventLimits,
        clock: Callable[[], datetime],
        host: str,
        port: int,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._limits = limits
        self._clock = clock
        self._host = host
        self._port = port
        app = web.Application(client_max_size=limits.max_event_bytes + BODY_SLACK_BYTES)
        app.router.add_route("*", "/hooks/{slug}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self.url = ""

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        addresses = self._runner.addresses
        port = int(addresses[0][1]) if addresses else self._port
        self.url = f"http://{self._host}:{port}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        webhook = await self._store.by_slug(slug)
        if webhook is None or not webhook.enabled:
            return _error(404, f"no enabled webhook at /hooks/{slug}")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "the body is too large")
        incoming = IncomingRequest(
            method=request.method,
            url=str(request.url),
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query),
            body=body,
            content_type=request.content_type,
        )
        try:
            verify(webhook, incoming)
            record = render_event(
                webhook, incoming, RenderContext(self._clock(), new_id, self._limits)
            )
        except WebhookRequestError as exc:
            return _error(exc.status, exc.reason)
        try:
            outcome = await self._publisher.emit([record_to_proto(record)])
        except ServiceError as exc:
            return _error(503, exc.message)
        if outcome.rejected:
            return _error(400, outcome.rejected[0].reason)
        return web.json_response({"id": outcome.accepted_ids[0]}, status=202)


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)
