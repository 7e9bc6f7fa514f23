"""Incoming webhooks: the WebhookService wrappers over a real gRPC connection."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from automations import AutomationsClient, IncomingWebhook, InvalidArgumentError

from .fakes import MASK

TEMPLATE = '{"event": "hook.{{ body.kind }}", "resource": {"prefect.resource.id": "hook.1"}}'


async def test_the_webhook_lifecycle(client: AutomationsClient) -> None:
    created = await client.create_webhook(
        IncomingWebhook(
            name="github",
            template=TEMPLATE,
            verification="hmac_sha256",
            signature_header="X-Hub-Signature-256",
            secret=SecretStr("s3cret"),
        )
    )
    assert created.id
    assert created.slug
    assert created.secret.get_secret_value() == MASK
    assert created.verification == "hmac_sha256"

    fetched = await client.get_webhook(created.id)
    assert fetched.template == TEMPLATE
    assert [w.name for w in await client.list_webhooks()] == ["github"]

    fetched.description = "from GitHub"
    updated = await client.update_webhook(fetched)
    assert updated.description == "from GitHub"

    assert (await client.disable_webhook(created.id)).enabled is False
    assert (await client.enable_webhook(created.id)).enabled is True
    assert await client.delete_webhook(created.id) is True
    assert await client.delete_webhook(created.id) is False


async def test_a_bad_webhook_names_the_field(client: AutomationsClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await client.create_webhook(IncomingWebhook(name="x", template=""))
    assert caught.value.field_violations[0].field == "webhook.template"
    with pytest.raises(ValueError, match="needs a webhook with an id"):
        await client.update_webhook(IncomingWebhook(name="x", template="t"))
