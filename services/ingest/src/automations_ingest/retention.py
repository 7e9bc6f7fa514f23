"""Periodic trimming of the event store by age, per event-name prefix."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from automations_ingest.settings import RetentionSettings
from automations_ingest.store import EventStore

log = logging.getLogger(__name__)


async def trim_once(store: EventStore, settings: RetentionSettings, now: datetime) -> int:
    return await store.trim(
        now,
        timedelta(days=settings.default_days),
        {prefix: timedelta(days=days) for prefix, days in settings.days_by_prefix.items()},
        settings.batch_size,
    )


async def run_retention(
    store: EventStore,
    settings: RetentionSettings,
    clock: Callable[[], datetime],
    stopping: asyncio.Event,
) -> None:
    """Trim now and then every `interval_seconds`, until `stopping` is set."""
    while not stopping.is_set():
        try:
            await trim_once(store, settings, clock())
        except SQLAlchemyError as exc:
            log.warning("retention pass failed (%r); trying again next time", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), settings.interval_seconds)
