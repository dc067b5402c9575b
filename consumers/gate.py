"""A shared/exclusive gate: handlers of different partitions run together (shared); a commit
or a rebalance waits until none is running and holds new ones back (exclusive).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Gate:
    """Readers-writer lock for asyncio; writers are not starved (a waiting writer closes it)."""

    def __init__(self) -> None:
        self._active = 0
        self._closed = False
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Run alongside other shared holders."""
        async with self._changed:
            await self._changed.wait_for(lambda: not self._closed)
            self._active += 1
        try:
            yield
        finally:
            async with self._changed:
                self._active -= 1
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Run alone: wait for shared holders to finish, keep new ones out."""
        async with self._changed:
            await self._changed.wait_for(lambda: not self._closed)
            self._closed = True
            await self._changed.wait_for(lambda: self._active == 0)
        try:
            yield
        finally:
            async with self._changed:
                self._closed = False
                self._changed.notify_all()
