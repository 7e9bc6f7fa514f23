"""Channels and configuration: one set of aio channels per event loop, and a sync bridge.

aio channels are bound to the loop that made them, so a `Transport` keeps one set per
loop. Sync methods run their async twin on a private event loop in a daemon thread, so
they work the same inside and outside a running loop (they block the calling one).
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Self, TypeVar

import grpc

from automations._errors import from_rpc_error
from automations.v1 import (
    action_service_pb2_grpc,
    automation_service_pb2_grpc,
    block_service_pb2_grpc,
    events_service_pb2_grpc,
    webhook_service_pb2_grpc,
)

if TYPE_CHECKING:
    from automations.v1.action_service_pb2_grpc import ActionServiceAsyncStub
    from automations.v1.automation_service_pb2_grpc import AutomationServiceAsyncStub
    from automations.v1.block_service_pb2_grpc import BlockServiceAsyncStub
    from automations.v1.events_service_pb2_grpc import EventsServiceAsyncStub
    from automations.v1.webhook_service_pb2_grpc import WebhookServiceAsyncStub

T = TypeVar("T")
Req = TypeVar("Req")
Resp = TypeVar("Resp")

ENV_API_URL = "AUTOMATIONS_API_URL"
ENV_EVENTS_URL = "AUTOMATIONS_EVENTS_URL"
ENV_ACTIONS_URL = "AUTOMATIONS_ACTIONS_URL"
ENV_API_KEY = "AUTOMATIONS_API_KEY"
DEFAULT_API_URL = "127.0.0.1:7472"
DEFAULT_EVENTS_URL = "127.0.0.1:7471"
DEFAULT_ACTIONS_URL = "127.0.0.1:7473"
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
]


@dataclass(frozen=True)
class ClientConfig:
    """Where the services are and how to authenticate. `https://` addresses use TLS."""

    api_url: str = DEFAULT_API_URL
    events_url: str = DEFAULT_EVENTS_URL
    actions_url: str = DEFAULT_ACTIONS_URL
    api_key: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ClientConfig:
        """Explicit arguments win; then AUTOMATIONS_* variables; then `make run`'s addresses."""
        env = os.environ if environ is None else environ
        config = cls(
            api_url=env.get(ENV_API_URL) or DEFAULT_API_URL,
            events_url=env.get(ENV_EVENTS_URL) or DEFAULT_EVENTS_URL,
            actions_url=env.get(ENV_ACTIONS_URL) or DEFAULT_ACTIONS_URL,
            api_key=env.get(ENV_API_KEY) or None,
        )
        return replace(config, **{k: v for k, v in overrides.items() if v is not None})

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.api_key}"),) if self.api_key else ()


def open_channel(url: str) -> grpc.aio.Channel:
    """An aio channel to `host:port`, `http://host:port` or `https://host:port` (TLS)."""
    if url.startswith("https://"):
        target = url.removeprefix("https://").rstrip("/")
        return grpc.aio.secure_channel(
            target, grpc.ssl_channel_credentials(), options=_CHANNEL_OPTIONS
        )
    target = url.removeprefix("http://").rstrip("/")
    return grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)


@dataclass
class _Stubs:
    """The channels and stubs of one event loop."""

    channels: list[grpc.aio.Channel]
    automations: AutomationServiceAsyncStub
    events: EventsServiceAsyncStub
    blocks: BlockServiceAsyncStub
    actions: ActionServiceAsyncStub
    webhooks: WebhookServiceAsyncStub

    @classmethod
    def open(cls, config: ClientConfig) -> _Stubs:
        api, events, actions = (
            open_channel(config.api_url),
            open_channel(config.events_url),
            open_channel(config.actions_url),
        )
        return cls(
            channels=[api, events, actions],
            automations=automation_service_pb2_grpc.AutomationServiceStub(api),
            events=events_service_pb2_grpc.EventsServiceStub(events),
            blocks=block_service_pb2_grpc.BlockServiceStub(actions),
            actions=action_service_pb2_grpc.ActionServiceStub(actions),
            webhooks=webhook_service_pb2_grpc.WebhookServiceStub(events),
        )

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


class _LoopThread:
    """A private event loop in a daemon thread, where sync calls run their async twins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="automations-client", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        loop = self._ensure()
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("a sync client method was called from the client's own loop")
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def stop(self, before: Coroutine[Any, Any, None] | None = None) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            if before is not None:
                before.close()
            return
        if before is not None:
            asyncio.run_coroutine_threadsafe(before, loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


class Transport:
    """The connection to the services, shared by the call groups of `AutomationsClient`.

    Arguments override the environment (`AUTOMATIONS_API_URL`, `AUTOMATIONS_EVENTS_URL`,
    `AUTOMATIONS_ACTIONS_URL`, `AUTOMATIONS_API_KEY`).
    """

    def __init__(
        self,
        api_url: str | None = None,
        events_url: str | None = None,
        actions_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        *,
        config: ClientConfig | None = None,
    ) -> None:
        base = config or ClientConfig.from_env()
        self.config = ClientConfig(
            api_url=api_url or base.api_url,
            events_url=events_url or base.events_url,
            actions_url=actions_url or base.actions_url,
            api_key=api_key if api_key is not None else base.api_key,
            timeout=timeout if timeout is not None else base.timeout,
        )
        self._metadata = self.config.metadata()
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Stubs] = (
            weakref.WeakKeyDictionary()
        )
        self._sync = _LoopThread()
        # Loops in different threads may share this client: guard the per-loop table.
        self._lock = threading.Lock()

    def _stubs(self) -> _Stubs:
        loop = asyncio.get_running_loop()
        with self._lock:
            for gone in [old for old in self._by_loop if old.is_closed()]:
                # Channels of a finished loop cannot be closed any more; just let them go.
                del self._by_loop[gone]
            stubs = self._by_loop.get(loop)
            if stubs is None:
                stubs = _Stubs.open(self.config)
                self._by_loop[loop] = stubs
            return stubs

    async def aclose(self) -> None:
        """Closes this loop's channels."""
        with self._lock:
            stubs = self._by_loop.pop(asyncio.get_running_loop(), None)
        if stubs is not None:
            await stubs.close()

    def close(self) -> None:
        """Closes the channels of the sync bridge and stops its thread."""
        self._sync.stop(self.aclose())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run_sync(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs an async method to completion from sync code (inside a running loop too)."""
        return self._sync.run(coroutine)

    async def _call(
        self, method: grpc.aio.UnaryUnaryMultiCallable[Req, Resp], request: Req
    ) -> Resp:
        try:
            return await method(request, timeout=self.config.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc
