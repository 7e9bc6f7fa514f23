"""Incoming webhooks: definitions, signature checks and turning a request into an event."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from automations_common.errors import ViolationCollector
from automations_common.ids import canonical_uuid
from automations_common.templating import TemplateProblem, render_template, validate_template
from automations_ingest.events import RESOURCE_ID, RESOURCE_ROLE, EventRecord, utc
from automations_ingest.settings import EventLimits
from automations_ingest.validation import Candidate, check_event

NONE = "none"
SHARED_SECRET = "shared-secret"
HMAC_SHA256 = "hmac-sha256"
VERIFICATIONS = (NONE, SHARED_SECRET, HMAC_SHA256)
DEFAULT_SIGNATURE_HEADER = "x-signature"
MASK = "********"

_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


@dataclass
class Webhook:
    """An incoming webhook: requests to `/hooks/{slug}` become events through `template`."""

    id: str
    name: str
    slug: str
    template: str
    created: datetime
    updated: datetime
    description: str = ""
    enabled: bool = True
    verification: str = NONE
    signature_header: str = ""
    secret: str = ""
    workspace: str = "default"


def check_definition(webhook: Webhook) -> None:
    """InvalidArgument listing every problem with a webhook definition."""
    problems = ViolationCollector()
    if not webhook.name.strip():
        problems.add("webhook.name", "is required")
    if not _SLUG.match(webhook.slug):
        problems.add(
            "webhook.slug",
            "must be 1-128 letters, digits, '-' or '_', starting with a letter or digit",
        )
    if not webhook.template.strip():
        problems.add("webhook.template", "is required")
    else:
        try:
            validate_template(webhook.template)
        except TemplateProblem as exc:
            problems.add("webhook.template", str(exc))
    if webhook.verification not in VERIFICATIONS:
        problems.add("webhook.verification", f"must be one of {', '.join(VERIFICATIONS)}")
    elif webhook.verification != NONE and not webhook.secret:
        problems.add("webhook.secret", "is required when the webhook verifies requests")
    problems.raise_if_any("invalid webhook")


class WebhookRequestError(Exception):
    """A request that does not become an event: the HTTP status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    url: str
    # Header names lower-cased.
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    content_type: str = ""


def verify(webhook: Webhook, request: IncomingRequest) -> None:
    """WebhookRequestError(401) unless the request proves it knows the webhook's secret."""
    if webhook.verification == NONE:
        return
    header = (webhook.signature_header or DEFAULT_SIGNATURE_HEADER).lower()
    given = request.headers.get(header)
    if not given:
        raise WebhookRequestError(401, f"the {header} header is missing")
    if webhook.verification == SHARED_SECRET:
        expected = webhook.secret
    else:
        digest = hmac.new(webhook.secret.encode(), request.body, hashlib.sha256).hexdigest()
        expected = f"sha256={digest}"
        if not given.startswith("sha256="):
            given = f"sha256={given}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise WebhookRequestError(401, f"the {header} header does not match")


def parse_body(request: IncomingRequest) -> Any:
    """JSON or form bodies become data; anything else stays text."""
    text = request.body.decode("utf-8", errors="replace")
    kind = request.content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        if not text.strip():
            return {}
        try:
            return json.loads(text)
        except ValueError as exc:
            raise WebhookRequestError(400, f"the body is not valid JSON: {exc}") from None
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    return text


def _labels(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise WebhookRequestError(400, f"the template's {where} must be an object of labels")
    labels: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, dict | list):
            raise WebhookRequestError(400, f"the template's {where}[{key!r}] must be text")
        labels[str(key)] = "" if item is None else str(item)
    return labels


@dataclass
class RenderContext:
    now: datetime
    new_id: Callable[[], str]
    limits: EventLimits = field(default_factory=EventLimits)


def render_event(webhook: Webhook, request: IncomingRequest, ctx: RenderContext) -> EventRecord:
    """The event a request stands for, or WebhookRequestError(400) saying what is wrong."""
    body = parse_body(request)
    context = {
        "body": body,
        "headers": dict(request.headers),
        "query": dict(request.query),
        "method": request.method,
        "url": request.url,
    }
    try:
        rendered = render_template(webhook.template, context)
    except TemplateProblem as exc:
        raise WebhookRequestError(400, f"the template failed: {exc}") from None
    try:
        data = json.loads(rendered)
    except ValueError as exc:
        raise WebhookRequestError(400, f"the template did not render JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WebhookRequestError(400, "the template must render a JSON object (the event)")
    record = _record(webhook, data, ctx)
    size = len(json.dumps(record.to_json(), default=str).encode())
    verdict = check_event(
        Candidate(
            record.id,
            True,
            record.event,
            record.resource,
            record.related,
            record.follows or "",
            size,
        ),
        ctx.limits,
    )
    if verdict.problem is not None:
        where = f" ({verdict.problem.field})" if verdict.problem.field else ""
        raise WebhookRequestError(
            400, f"the rendered event is invalid{where}: {verdict.problem.reason}"
        )
    record.id = verdict.canonical_id
    return record


def _record(webhook: Webhook, data: dict[str, Any], ctx: RenderContext) -> EventRecord:
    event = data.get("event")
    if not isinstance(event, str):
        raise WebhookRequestError(400, "the template's event must be a string")
    resource = _labels(data.get("resource"), "resource")
    related_in = data.get("related") or []
    if not isinstance(related_in, list):
        raise WebhookRequestError(400, "the template's related must be a list")
    related = [_labels(r, f"related[{i}]") for i, r in enumerate(related_in)]
    related.append(
        {
            RESOURCE_ID: f"prefect.webhook.{webhook.id}",
            RESOURCE_ROLE: "webhook",
            "prefect.resource.name": webhook.name,
        }
    )
    payload = data.get("payload", {})
    if not isinstance(payload, dict):
        raise WebhookRequestError(400, "the template's payload must be an object")
    occurred = ctx.now
    if data.get("occurred"):
        try:
            occurred = utc(datetime.fromisoformat(str(data["occurred"])))
        except ValueError:
            raise WebhookRequestError(
                400, "the template's occurred is not an ISO 8601 time"
            ) from None
    event_id = str(data.get("id") or ctx.new_id())
    follows = data.get("follows")
    return EventRecord(
        id=event_id,
        occurred=occurred,
        event=event,
        resource=resource,
        related=related,
        payload=payload,
        follows=canonical_uuid(str(follows)) or str(follows) if follows else None,
        workspace=webhook.workspace,
    )
