"""Incoming webhooks: definitions, signatures and rendering a request into an event."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from automations_common.errors import InvalidArgument
from automations_ingest.webhooks import (
    HMAC_SHA256,
    SHARED_SECRET,
    IncomingRequest,
    RenderContext,
    Webhook,
    WebhookRequestError,
    check_definition,
    render_event,
    verify,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)
TEMPLATE = json.dumps(
    {
        "event": "github.{{ headers['x-github-event'] }}",
        "resource": {"prefect.resource.id": "github.repo.{{ body.repository.name }}"},
        "payload": {"action": "{{ body.action }}", "q": "{{ query.source }}"},
    }
)


def webhook(**changes: object) -> Webhook:
    values: dict[str, object] = {
        "id": "0190b5a0-0000-7000-8000-000000000001",
        "name": "github",
        "slug": "github",
        "template": TEMPLATE,
        "created": NOW,
        "updated": NOW,
    }
    values.update(changes)
    return Webhook(**values)  # type: ignore[arg-type]


def request(body: bytes, content_type: str = "application/json", **headers: str) -> IncomingRequest:
    return IncomingRequest(
        method="POST",
        url="http://x/hooks/github?source=test",
        headers={"x-github-event": "push", **headers},
        query={"source": "test"},
        body=body,
        content_type=content_type,
    )


CTX = RenderContext(NOW, lambda: "0190b5a0-0000-7000-8000-0000000000ff")


def test_a_json_request_renders_into_the_templated_event() -> None:
    body = json.dumps({"action": "opened", "repository": {"name": "demo"}}).encode()
    event = render_event(webhook(), request(body), CTX)
    assert event.event == "github.push"
    assert event.resource == {"prefect.resource.id": "github.repo.demo"}
    assert event.payload == {"action": "opened", "q": "test"}
    assert event.occurred == NOW
    assert event.id == "0190b5a0-0000-7000-8000-0000000000ff"
    assert event.related[-1]["prefect.resource.role"] == "webhook"


def test_form_bodies_are_parsed() -> None:
    body = b"action=closed&repository=ignored"
    hook = webhook(template=TEMPLATE.replace("body.repository.name", "'form'"))
    event = render_event(hook, request(body, "application/x-www-form-urlencoded"), CTX)
    assert event.payload["action"] == "closed"


@pytest.mark.parametrize(
    ("template", "body", "words"),
    [
        (TEMPLATE, b"{not json", "not valid JSON"),
        ("{{ body.x", b"{}", "template failed"),
        ("not json at all", b"{}", "did not render JSON"),
        ('{"event": "x", "resource": {}}', b"{}", "prefect.resource.id"),
        ('{"resource": {"prefect.resource.id": "a"}}', b"{}", "event must be a string"),
    ],
)
def test_bad_bodies_and_templates_are_400_with_the_reason(
    template: str, body: bytes, words: str
) -> None:
    with pytest.raises(WebhookRequestError) as caught:
        render_event(webhook(template=template), request(body), CTX)
    assert caught.value.status == 400
    assert words in caught.value.reason


def test_shared_secret_and_hmac_verification() -> None:
    shared = webhook(verification=SHARED_SECRET, secret="s3cret", signature_header="X-Token")
    verify(shared, request(b"{}", **{"x-token": "s3cret"}))
    for bad in ({}, {"x-token": "wrong"}):
        with pytest.raises(WebhookRequestError) as caught:
            verify(shared, request(b"{}", **bad))
        assert caught.value.status == 401

    signed = webhook(verification=HMAC_SHA256, secret="k", signature_header="x-signature")
    body = b'{"a": 1}'
    digest = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    verify(signed, request(body, **{"x-signature": f"sha256={digest}"}))
    verify(signed, request(body, **{"x-signature": digest}))
    with pytest.raises(WebhookRequestError):
        verify(signed, request(b'{"a": 2}', **{"x-signature": f"sha256={digest}"}))


def test_definitions_are_checked() -> None:
    check_definition(webhook())
    with pytest.raises(InvalidArgument) as caught:
        check_definition(
            webhook(name="", slug="bad slug!", template="{% for %}", verification=HMAC_SHA256)
        )
    fields = {v.field for v in caught.value.violations}
    assert fields == {"webhook.name", "webhook.slug", "webhook.template", "webhook.secret"}
