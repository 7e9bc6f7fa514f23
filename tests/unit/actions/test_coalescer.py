"""Coalescer: ledger writes and event publishes shared by the actions finishing together."""

from __future__ import annotations

import asyncio

import pytest

from automations_actions.dispatch import Coalescer

pytestmark = pytest.mark.timeout(5)


class Flushes:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def flush(self, items: list[int]) -> None:
        self.batches.append(items)
        await self.gate.wait()


async def test_items_submitted_during_a_flush_go_together_in_the_next() -> None:
    flushes = Flushes()
    coalescer: Coalescer[int] = Coalescer(flushes.flush)
    flushes.gate.clear()
    first = asyncio.create_task(coalescer.submit([1]))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    later = [asyncio.create_task(coalescer.submit([n, n + 10])) for n in (2, 3)]
    await asyncio.sleep(0)
    flushes.gate.set()
    await asyncio.gather(first, *later)
    assert flushes.batches == [[1], [2, 12, 3, 13]]


async def test_a_full_batch_does_not_wait_for_the_linger() -> None:
    flushes = Flushes()
    coalescer: Coalescer[int] = Coalescer(flushes.flush, linger=3600, max_items=3)
    await asyncio.gather(coalescer.submit([1, 2]), coalescer.submit([3]))
    assert flushes.batches == [[1, 2, 3]]


async def test_a_failed_flush_fails_its_submitters_and_the_next_one_still_runs() -> None:
    calls: list[list[int]] = []

    async def flush(items: list[int]) -> None:
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("database down")

    coalescer: Coalescer[int] = Coalescer(flush)
    with pytest.raises(RuntimeError, match="database down"):
        await coalescer.submit([1])
    await coalescer.submit([2])
    assert calls == [[1], [2]]


async def test_an_urgent_item_cuts_the_linger_short_and_takes_the_others_along() -> None:
    flushes = Flushes()
    coalescer: Coalescer[int] = Coalescer(flushes.flush, linger=3600)
    waiting = asyncio.create_task(coalescer.submit([1]))
    await asyncio.sleep(0)
    await coalescer.submit([2], urgent=True)
    await waiting
    assert flushes.batches == [[1, 2]]
