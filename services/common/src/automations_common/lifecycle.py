"""Process lifecycle: run a service until SIGINT/SIGTERM, then shut it down in order."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger(__name__)


class Service(Protocol):
    """What `run_until_signalled` drives: start everything, then stop it in reverse."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def run_until_signalled(
    service: Service, on_ready: Callable[[], Awaitable[None]] | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    if on_ready is not None:
        await on_ready()
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await service.stop()
        log.info("stopped")
