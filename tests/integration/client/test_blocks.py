"""Blocks: save, load with secrets masked, overwrite; plus action runs."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from automations import (
    AlreadyExistsError,
    AutomationsClient,
    SlackWebhook,
    Webhook,
)

from .fakes import MASK, FakeStack


async def test_save_and_load_a_webhook(client: AutomationsClient, stack: FakeStack) -> None:
    webhook = Webhook(
        url="http://127.0.0.1:9/hook",
        method="POST",
        headers={"X-Token": "t"},
        allow_private_urls=True,
    )
    block_id = await webhook.asave("demo", client=client)
    assert webhook.block_document_id == block_id
    stored = stack.blocks.stored[str(block_id)]
    assert stored.webhook.url == "http://127.0.0.1:9/hook"

    loaded = await Webhook.aload("demo", client=client)
    assert loaded.block_document_id == block_id
    assert loaded.url.get_secret_value() == MASK
    assert loaded.headers == {"X-Token": MASK}
    assert loaded.method == "POST"
    assert loaded.allow_private_urls is True


async def test_save_refuses_a_taken_name_unless_overwriting(
    client: AutomationsClient, stack: FakeStack
) -> None:
    first = await Webhook(url=SecretStr("http://a")).asave("dup", client=client)
    with pytest.raises(AlreadyExistsError, match="overwrite=True"):
        await Webhook(url=SecretStr("http://b")).asave("dup", client=client)
    second = await Webhook(url=SecretStr("http://c"), method="PUT").asave(
        "dup", overwrite=True, client=client
    )
    assert first == second
    assert stack.blocks.stored[str(first)].webhook.url == "http://c"
    loaded = await Webhook.aload("dup", client=client)
    assert loaded.method == "PUT"
    await loaded.asave("dup", overwrite=True, client=client)
    assert stack.blocks.stored[str(first)].webhook.url == "http://c"


async def test_load_of_a_missing_or_different_block(client: AutomationsClient) -> None:
    with pytest.raises(ValueError, match="Unable to find block document named 'nope'"):
        await Webhook.aload("nope", client=client)
    await SlackWebhook(url=SecretStr("https://hooks.slack.com/x")).asave("slack", client=client)
    with pytest.raises(ValueError, match="is a SlackWebhook, not a Webhook"):
        await Webhook.aload("slack", client=client)


async def test_list_test_and_delete_blocks(client: AutomationsClient) -> None:
    hook = Webhook(url=SecretStr("http://a"))
    await hook.asave("one", client=client)
    await SlackWebhook(url=SecretStr("https://s")).asave("two", client=client)
    assert {b.block_document_name for b in await client.list_blocks()} == {"one", "two"}
    assert [type(b).__name__ for b in await client.list_blocks("slack_webhook")] == ["SlackWebhook"]
    assert (await client.test_block(hook.block_document_id)).ok  # type: ignore[arg-type]
    assert await hook.adelete(client) is True
    assert await hook.adelete(client) is False


def test_sync_save_and_load(threaded_stack: FakeStack) -> None:
    address = threaded_stack.address
    with AutomationsClient(api_url=address, events_url=address, actions_url=address) as client:
        block_id = Webhook(url=SecretStr("http://x")).save("sync", client=client)
        assert Webhook.load("sync", client=client).block_document_id == block_id


async def test_action_runs(client: AutomationsClient) -> None:
    runs = await client.list_action_runs(limit=None)
    assert len(runs) == 5
    assert {r.state for r in runs} == {"succeeded"}
    assert len(await client.list_action_runs(automation_id="a")) == 2
    assert len(await client.list_action_runs(limit=2)) == 2
    assert (await client.get_action_run("run-3")).automation_id == "a"
    assert await client.list_action_runs(states=["failed"]) == []
