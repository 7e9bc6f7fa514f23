"""`call-webhook`: render the payload and send it through a Webhook block, once per action id."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from automations_actions.blocks import BLOCK_TYPE_SLUGS, MASK, Block
from automations_actions.kinds.base import (
    ActionFailed,
    ActionInvocation,
    ActionOutcome,
    TemplateRenderer,
    TransientFailure,
)
from automations_actions.webhook_transport import (
    OutboundRequest,
    OutboundResponse,
    TransportError,
    UnsafeTargetError,
    WebhookTransport,
)
from automations_common.errors import InvalidArgument, NotFound
from automations_common.templating import TemplateProblem

MAX_RESPONSE_CHARS = 1000
IDEMPOTENCY_HEADER = "Idempotency-Key"
_SENSITIVE_HEADER_WORDS = ("cookie", "auth", "token", "key", "secret", "session", "signature")

BlockLoader = Callable[[str], Awaitable[Block]]


def block_related(block: Block) -> list[dict[str, str]]:
    """The `block` and `block-type` related resources of an action event."""
    return [
        {
            "prefect.resource.id": f"prefect.block-document.{block.id}",
            "prefect.resource.role": "block",
            "prefect.resource.name": block.name,
        },
        {
            "prefect.resource.id": f"prefect.block-type.{BLOCK_TYPE_SLUGS[block.kind]}",
            "prefect.resource.role": "block-type",
        },
    ]


async def load_block(load: BlockLoader, block_id: str, kinds: tuple[str, ...]) -> Block:
    """The block an action names, or ActionFailed saying why it cannot be used."""
    if not block_id:
        raise ActionFailed("the action names no block (block_document_id is empty)")
    try:
        block = await load(block_id)
    except NotFound:
        raise ActionFailed(f"block {block_id} not found") from None
    except InvalidArgument as exc:
        raise ActionFailed(f"block_document_id: {exc.message}") from None
    if block.kind not in kinds:
        raise ActionFailed(
            f"block {block_id} is a {block.kind} block; this action needs {' or '.join(kinds)}"
        )
    return block


def masked_url(url: str) -> str:
    """Scheme, host and port only: the rest of a webhook URL often is the secret."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return (
        f"{parts.scheme}://{netloc}/{MASK}"
        if parts.path.strip("/")
        else f"{parts.scheme}://{netloc}/"
    )


def response_details(response: OutboundResponse) -> dict[str, Any]:
    text = response.body.decode("utf-8", errors="replace")
    return {
        "status_code": response.status_code,
        "response_body": text[:MAX_RESPONSE_CHARS],
        "response_headers": {
            name: value
            for name, value in response.headers.items()
            if not any(word in name.lower() for word in _SENSITIVE_HEADER_WORDS)
        },
    }


async def send_checked(
    transport: WebhookTransport,
    request: OutboundRequest,
    rendered: dict[str, Any],
    related: list[dict[str, str]],
) -> ActionOutcome:
    """Send and classify: 2xx succeeds, 5xx/429/network retry, the rest fails at once."""
    try:
        response = await transport.send(request)
    except UnsafeTargetError as exc:
        raise ActionFailed(
            str(exc), {"blocked": True}, rendered_request=rendered, resulting_related=related
        ) from None
    except TransportError as exc:
        raise TransientFailure(
            str(exc), rendered_request=rendered, resulting_related=related
        ) from None
    details = response_details(response)
    code = response.status_code
    if 200 <= code < 300:
        return ActionOutcome(result=details, resulting_related=related, rendered_request=rendered)
    reason = f"the webhook answered {code}"
    if 300 <= code < 400:
        raise ActionFailed(
            f"{reason}; redirects are not followed",
            details,
            rendered_request=rendered,
            resulting_related=related,
        )
    failure = TransientFailure if code >= 500 or code == 429 else ActionFailed
    raise failure(reason, details, rendered_request=rendered, resulting_related=related)


class CallWebhook:
    """The `call-webhook` executor."""

    def __init__(
        self,
        load: BlockLoader,
        transport: WebhookTransport,
        renderer: TemplateRenderer,
    ) -> None:
        self._load = load
        self._transport = transport
        self._renderer = renderer

    async def __call__(self, invocation: ActionInvocation) -> ActionOutcome:
        action = invocation.action
        block = await load_block(
            self._load, str(action.get("block_document_id") or ""), ("webhook",)
        )
        related = block_related(block)
        payload = action.get("payload") or ""
        if not isinstance(payload, str):
            # Prefect's legacy dict payloads are sent as their JSON text.
            payload = json.dumps(payload)
        try:
            [body] = await self._renderer.render_many(invocation, [payload])
        except TemplateProblem as problem:
            raise ActionFailed(
                f"Template rendering failed: {problem}",
                {"template_error": str(problem), "template_source": payload},
                resulting_related=related,
            ) from None
        config = block.config
        method = str(config.get("method") or "POST")
        headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
        headers[IDEMPOTENCY_HEADER] = invocation.action_id
        rendered = {
            "method": method,
            "url": masked_url(str(config["url"])),
            "headers": {k: (v if k == IDEMPOTENCY_HEADER else MASK) for k, v in headers.items()},
            "body": body[:10_000],
        }
        request = OutboundRequest(
            method=method,
            url=str(config["url"]),
            headers=headers,
            body=body.encode(),
            allow_private=block.allow_private_urls,
            verify=bool(config.get("verify", True)),
        )
        return await send_checked(self._transport, request, rendered, related)


def webhook_block_tester(
    transport: WebhookTransport,
) -> Callable[[Block, str, str], Awaitable[str]]:
    """TestBlock for webhook blocks: sends `body` with the block's method and headers."""

    async def test(block: Block, subject: str, body: str) -> str:
        config = block.config
        request = OutboundRequest(
            method=str(config.get("method") or "POST"),
            url=str(config["url"]),
            headers={str(k): str(v) for k, v in (config.get("headers") or {}).items()},
            body=body.encode(),
            allow_private=block.allow_private_urls,
            verify=bool(config.get("verify", True)),
        )
        outcome = await send_checked(transport, request, {}, [])
        return f"the webhook answered {outcome.result['status_code']}"

    return test
