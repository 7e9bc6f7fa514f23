"""`eventually`: poll a condition until it holds, with a deadline and a useful failure."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")


# `check` may answer None for "not yet"; a value is returned only once it is truthy, so the
# result is never None: `T | None` in the parameter lets T be the type without None.
@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]],
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T | None],
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


async def eventually(
    check: Callable[[], object],
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
) -> object:
    """Call `check` until it returns a truthy value (returned) or stops raising AssertionError."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
        except AssertionError as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s") from last_error
        await asyncio.sleep(interval)
