"""A shared/exclusive gate: handlers of different partitions run together (shared); a commit
or a rebalance waits until none is running and holds new ones back (exclusive).

The runner takes the shared side once per record, so its uncontended path costs no await and
no lock: asyncio runs one task at a time, so checking and counting with no await in between is
atomic. Only a waiting writer makes holders take the condition.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType


class Gate:
    """Readers-writer lock for asyncio; writers are not starved (a waiting writer closes it)."""

    def __init__(self) -> None:
        self._active = 0
        self._closed = False
        self._changed = asyncio.Condition()
        self._shared = _Shared(self)

    def shared(self) -> _Shared:
        """Run alongside other shared holders (`async with gate.shared(): ...`)."""
        return self._shared

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

    async def _enter_shared(self) -> None:
        if not self._closed:  # no writer: count ourselves in without awaiting
            self._active += 1
            return
        async with self._changed:
            await self._changed.wait_for(lambda: not self._closed)
            self._active += 1

    async def _exit_shared(self) -> None:
        self._active -= 1
        if self._closed and self._active == 0:  # a writer waits for the last holder
            async with self._changed:
                self._changed.notify_all()


class _Shared:
    """The shared side of a `Gate` as a reusable async context manager (no generator per use)."""

    __slots__ = ("_gate",)

    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    async def __aenter__(self) -> None:
        await self._gate._enter_shared()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._gate._exit_shared()
