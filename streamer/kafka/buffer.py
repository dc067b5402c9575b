"""The bounded buffer between followers and the flusher: `put` waits while it is full.

That wait is the backpressure: a follower blocked in `publish` stops reading its stream, so when
Kafka is slow or down memory stays bounded by the buffer plus the one batch being written.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

from streamer.events import SessionEvent
from streamer.kafka.errors import SinkError, SinkStoppedError
from streamer.kafka.metrics import PUBLISH_WAIT_SECONDS


@dataclass(frozen=True, slots=True)
class SessionFinished:
    """A marker, ordered after a session's last event, that the session ended."""

    session_id: str


Item = SessionEvent | SessionFinished


class EventBuffer:
    """A FIFO bounded by item count and value bytes; an oversize item still enters an empty one."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._items: deque[Item] = deque()
        # When the oldest buffered item arrived. Kept per buffer, not per item (cheaper): after a
        # partial `take` it restarts at that moment, which can only shorten the next wait.
        self._oldest_at = 0.0
        self._bytes = 0
        self._room = asyncio.Event()
        self._room.set()
        self._ready = asyncio.Event()
        self._closed: SinkError | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        """Value bytes currently buffered."""
        return self._bytes

    @property
    def waiting(self) -> bool:
        """Whether a `put` is waiting for room (the backpressure is on)."""
        return not self._room.is_set()

    def oldest_at(self) -> float | None:
        """`time.monotonic()` when the oldest buffered item arrived (or, after a partial `take`,
        when that happened); None when empty."""
        return self._oldest_at if self._items else None

    async def put(self, item: Item) -> None:
        """Append `item`, waiting while the buffer is full; raises once the buffer is closed."""
        size = len(item.raw) if isinstance(item, SessionEvent) else 0
        if self._closed is not None:
            raise self._closed
        if self._is_full(size):
            await self._wait_for_room(size)
        if not self._items:
            self._oldest_at = time.monotonic()
        self._items.append(item)
        self._bytes += size
        self._ready.set()

    async def _wait_for_room(self, size: int) -> None:
        started = time.monotonic()
        try:
            while self._is_full(size):
                self._room.clear()
                await self._room.wait()
                if self._closed is not None:
                    raise self._closed
        finally:
            PUBLISH_WAIT_SECONDS.inc(time.monotonic() - started)

    def _is_full(self, size: int) -> bool:
        if not self._items:
            return False
        return len(self._items) >= self._max_items or self._bytes + size > self._max_bytes

    def take(self, max_items: int) -> list[Item]:
        """Remove and return up to `max_items` of the oldest items."""
        count = min(max_items, len(self._items))
        taken = [self._items.popleft() for _ in range(count)]
        self._bytes -= sum(len(item.raw) for item in taken if isinstance(item, SessionEvent))
        if self._items:
            self._oldest_at = time.monotonic()
        else:
            self._ready.clear()
        self._room.set()
        return taken

    async def wait_ready(self) -> None:
        """Return when an item is buffered (or `wake` was called)."""
        await self._ready.wait()

    def wake(self) -> None:
        """Release `wait_ready` without an item (used to stop the flusher)."""
        self._ready.set()

    def close(self, error: SinkError | None = None) -> None:
        """Refuse further items; waiting and future `put` calls raise `error`."""
        self._closed = error or SinkStoppedError("sink is stopped")
        self._room.set()
