"""`AutomationsClient`: every call to the services, async, with a sync bridge.

The calls are grouped by service (`_automations_api`, `_events_api`, `_blocks_api`,
`_runs_api`, `_webhooks_api`); `_transport` holds the channels.
"""

from __future__ import annotations

import atexit
import threading

from automations._automations_api import AutomationsApi
from automations._blocks_api import BlocksApi
from automations._events_api import EventsApi
from automations._runs_api import ActionRunsApi
from automations._transport import ClientConfig
from automations._webhooks_api import WebhooksApi


class AutomationsClient(AutomationsApi, EventsApi, BlocksApi, ActionRunsApi, WebhooksApi):
    """Every call to the Automations services. Use `async with` or call `aclose()`/`close()`.

    Arguments override the environment (`AUTOMATIONS_API_URL`, `AUTOMATIONS_EVENTS_URL`,
    `AUTOMATIONS_ACTIONS_URL`, `AUTOMATIONS_API_KEY`).
    """


# The SDK's model methods (`Automation(...).create()`) need a client without being handed
# one, as in Prefect. This cache of clients by configuration is the package's one piece of
# process state; it is read-only once filled, and the clients are closed at exit.
_DEFAULT_CLIENTS: dict[ClientConfig, AutomationsClient] = {}
_DEFAULT_LOCK = threading.Lock()


def default_client() -> AutomationsClient:
    """The shared client for the current environment's configuration."""
    config = ClientConfig.from_env()
    with _DEFAULT_LOCK:
        client = _DEFAULT_CLIENTS.get(config)
        if client is None:
            client = AutomationsClient(config=config)
            _DEFAULT_CLIENTS[config] = client
        return client


def resolve_client(client: AutomationsClient | None) -> AutomationsClient:
    return client if client is not None else default_client()


@atexit.register
def _close_default_clients() -> None:
    with _DEFAULT_LOCK:
        clients = list(_DEFAULT_CLIENTS.values())
        _DEFAULT_CLIENTS.clear()
    for client in clients:
        client.close()
