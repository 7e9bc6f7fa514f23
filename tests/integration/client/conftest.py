"""A real gRPC server on loopback with in-memory services, and a client aimed at it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from automations import AutomationsClient

from .fakes import FakeStack


@pytest.fixture
async def stack() -> AsyncIterator[FakeStack]:
    stack = FakeStack()
    await stack.server.start()
    try:
        yield stack
    finally:
        await stack.server.stop(0)


@pytest.fixture
async def client(stack: FakeStack) -> AsyncIterator[AutomationsClient]:
    client = AutomationsClient(
        api_url=stack.address,
        events_url=stack.address,
        actions_url=f"http://{stack.address}",
        api_key="test-key",
    )
    async with client:
        yield client
    client.close()


@pytest.fixture
def threaded_stack() -> Iterator[FakeStack]:
    """The fakes served from their own thread and loop, so that a test's loop may block
    (sync client methods block the loop they are called from)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> FakeStack:
        stack = FakeStack()
        await stack.server.start()
        return stack

    stack = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield stack
    finally:
        asyncio.run_coroutine_threadsafe(stack.server.stop(0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
