"""What a follower hands its events to, and an in-memory sink for tests.

The Kafka implementation lives in `streamer.kafka`; followers only see this protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

from streamer.events import Checkpoint, SessionEvent


class Sink(Protocol):
    """Accepts events in per-session order; durable once the sink says so.

    `publish` may wait: that wait is the backpressure that stops followers reading when the
    downstream is slow. Checkpoints are derived by the sink from what it publishes, so a
    follower never writes them itself.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def checkpoints(self) -> Mapping[str, Checkpoint]:
        """The last committed resume point of every session the sink has seen."""
        ...

    def checkpoint(self, session_id: str) -> Checkpoint | None:
        """The last committed resume point of one session, or None (none committed yet)."""
        ...

    async def publish(self, event: SessionEvent) -> None:
        """Accept one event; returns when it is buffered (not necessarily committed)."""
        ...

    async def finish(self, session_id: str) -> None:
        """Record that a session ended (terminated or deleted) after its last event."""
        ...

    async def publish_preview(self, session_id: str, raw: bytes) -> None:
        """Hand on one delta preview (best-effort, outside events and checkpoints)."""
        ...


class InMemorySink:
    """A `Sink` that keeps everything in lists; for tests and the demo's dry runs."""

    def __init__(self, max_buffered: int = 0) -> None:
        self.events: list[SessionEvent] = []
        self.finished: list[str] = []
        self.previews: list[tuple[str, bytes]] = []
        self._failures = 0
        self._checkpoints: dict[str, Checkpoint] = {}
        self._slots = asyncio.Semaphore(max_buffered) if max_buffered else None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def checkpoints(self) -> Mapping[str, Checkpoint]:
        return dict(self._checkpoints)

    def checkpoint(self, session_id: str) -> Checkpoint | None:
        return self._checkpoints.get(session_id)

    def fail_next(self, count: int) -> None:
        """Make the next `count` publishes raise `RuntimeError` (a bug downstream; crash tests)."""
        self._failures = count

    async def publish(self, event: SessionEvent) -> None:
        if self._failures:
            self._failures -= 1
            raise RuntimeError("injected sink failure")
        if self._slots is not None:
            await self._slots.acquire()  # released by `drain`, to simulate a slow downstream
        self.events.append(event)
        previous = self._checkpoints.get(event.session_id)
        boundary: tuple[str, ...] = (event.event_id,)
        if previous is not None and previous.processed_at == event.processed_at:
            boundary = (*previous.boundary_ids, event.event_id)
        self._checkpoints[event.session_id] = Checkpoint(
            event.session_id, event.processed_at, boundary
        )

    async def publish_preview(self, session_id: str, raw: bytes) -> None:
        self.previews.append((session_id, raw))

    def drain(self, count: int) -> None:
        """Let `count` more events through when constructed with `max_buffered`."""
        assert self._slots is not None
        for _ in range(count):
            self._slots.release()

    async def finish(self, session_id: str) -> None:
        self.finished.append(session_id)
        checkpoint = self._checkpoints.get(session_id) or Checkpoint(session_id, "", ())
        self._checkpoints[session_id] = Checkpoint(
            session_id, checkpoint.processed_at, checkpoint.boundary_ids, finished=True
        )
