"""Waiting for conditions in tests: the one polling helper. Poll with a generous deadline, never
assert on a sleep.

`settled` polls a reading (plain or async) until it satisfies `done` and stops changing, and
returns it either way, so the test's assertion shows what was there. `until` is `settled` for a
barrier: it raises when the condition does not hold in time.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

Reading = Callable[[], T] | Callable[[], Awaitable[T]]


async def settled(
    read: Reading[T],
    *,
    done: Callable[[T], object] = bool,
    timeout_secs: float = 60.0,
    stable_secs: float = 1.0,
    interval_secs: float = 0.05,
) -> T:
    """Poll `read()` until `done(value)` has held with an unchanged value for `stable_secs` (at
    once when 0).

    Returns the last value either way, so the test's assertion shows what was there.
    """
    deadline = time.monotonic() + timeout_secs
    value = await _read(read)
    since = time.monotonic()
    while True:
        now = time.monotonic()
        if (done(value) and now - since >= stable_secs) or now >= deadline:
            return value
        await asyncio.sleep(interval_secs)
        current = await _read(read)
        if current != value:
            value, since = current, time.monotonic()


async def until(
    condition: Reading[object], *, timeout_secs: float = 60.0, interval_secs: float = 0.01
) -> None:
    """Return once `condition()` is true; fail the test when it is not within `timeout_secs`."""
    held = await settled(
        lambda: _truthy(condition), done=bool, timeout_secs=timeout_secs, stable_secs=0.0,
        interval_secs=interval_secs,
    )  # fmt: skip
    if not held:
        raise AssertionError(f"condition not met within {timeout_secs} s")


async def _truthy(condition: Reading[object]) -> bool:
    return bool(await _read(condition))


async def _read(read: Reading[T]) -> T:
    value = read()
    if inspect.isawaitable(value):
        return await value
    return value
