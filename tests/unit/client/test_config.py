"""Addresses and the API key come from arguments, then the environment, then defaults."""

from __future__ import annotations

import asyncio

import pytest

from automations import AutomationsClient, ClientConfig
from automations._transport import open_channel


def test_defaults_are_what_make_run_starts() -> None:
    config = ClientConfig.from_env({})
    assert (config.api_url, config.events_url, config.actions_url) == (
        "127.0.0.1:7472",
        "127.0.0.1:7471",
        "127.0.0.1:7473",
    )
    assert config.api_key is None
    assert config.metadata() == ()


def test_environment_then_arguments() -> None:
    env = {
        "AUTOMATIONS_API_URL": "api:1",
        "AUTOMATIONS_EVENTS_URL": "events:2",
        "AUTOMATIONS_ACTIONS_URL": "actions:3",
        "AUTOMATIONS_API_KEY": "secret",
    }
    config = ClientConfig.from_env(env, events_url="other:9")
    assert (config.api_url, config.events_url, config.actions_url) == (
        "api:1",
        "other:9",
        "actions:3",
    )
    assert config.metadata() == (("authorization", "Bearer secret"),)


def test_client_arguments_override_its_config() -> None:
    client = AutomationsClient(api_url="x:1", api_key="k", config=ClientConfig(timeout=3))
    assert client.config == ClientConfig(api_url="x:1", api_key="k", timeout=3)


async def test_channels_accept_plain_http_and_https_addresses() -> None:
    for url in ("127.0.0.1:1", "http://127.0.0.1:1/", "https://127.0.0.1:1"):
        channel = open_channel(url)
        await channel.close()


def test_sync_calls_refuse_to_run_on_the_clients_own_loop() -> None:
    client = AutomationsClient(config=ClientConfig())

    async def nested() -> None:
        client.run_sync(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="own loop"):
        client.run_sync(nested())
    client.close()
    client.close()
