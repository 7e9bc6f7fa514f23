"""Keeps the loaded automations in step with the store: on change hints and periodically."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from automations_triggers.documents import AutomationDocument
from automations_triggers.store import AutomationStore, Signature

log = logging.getLogger(__name__)


class Target(Protocol):
    """What keeps automations in memory (the engine runner)."""

    async def replace_all(self, docs: Sequence[AutomationDocument]) -> None: ...

    async def put(self, doc: AutomationDocument) -> None: ...

    async def remove(self, automation_id: str) -> None: ...


class Reloader:
    """Loads everything at start, one automation per change hint, and everything again
    whenever the table's (count, last update) moved without a hint reaching us."""

    def __init__(self, store: AutomationStore, target: Target, reconcile_seconds: float) -> None:
        self._store = store
        self._target = target
        self._reconcile_seconds = reconcile_seconds
        self._signature: Signature | None = None
        # Reloads run one at a time so an older read never overwrites a newer one.
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def load_all(self) -> None:
        async with self._lock:
            signature = await self._store.signature()
            await self._target.replace_all(await self._store.enabled())
            self._signature = signature

    async def reload_one(self, automation_id: str) -> None:
        async with self._lock:
            doc = await self._store.get(automation_id)
            if doc is None:
                await self._target.remove(automation_id)
            else:
                await self._target.put(doc)

    async def reconcile_forever(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._reconcile_seconds)
                return
            try:
                if await self._store.signature() != self._signature:
                    await self.load_all()
            except Exception:
                log.exception("reconciling automations failed; retrying next period")
