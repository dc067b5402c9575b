"""Waiting for conditions in tests: poll with a generous deadline, never assert on a sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def settled(
    read: Callable[[], T],
    *,
    done: Callable[[T], bool],
    timeout_secs: float = 60.0,
    stable_secs: float = 1.0,
) -> T:
    """Poll `read()` until `done(value)` has held with an unchanged value for `stable_secs`.

    Returns the last value either way, so the test's assertion shows what was there.
    """
    deadline = time.monotonic() + timeout_secs
    value = read()
    since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        current = read()
        if current != value:
            value, since = current, time.monotonic()
        elif done(value) and time.monotonic() - since >= stable_secs:
            break
    return value
