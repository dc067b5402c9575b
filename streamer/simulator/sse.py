"""Live SSE fan-out: every open connection of a session gets the same pre-encoded frame bytes.

A connection is a small buffer plus a writer task owned by the request handler. Publishing
never awaits: it appends bytes to each buffer and wakes the writer, which sends whatever has
accumulated in one write. A connection whose buffer exceeds the configured bound is cut (the
client reconnects and reconciles from history), so a stuck client cannot grow memory unboundedly.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

PING_FRAME = b'event: ping\ndata: {"type":"ping"}\n\n'

# (frame bytes so far written on this connection) -> frames to write, maybe rewritten by faults
FrameFilter = Callable[[bytes], list[bytes]]


class Connection:
    """One open stream: frames waiting to be written and the previews it opted into."""

    __slots__ = ("closed", "deltas", "dropped", "frames", "max_frames", "wake")

    def __init__(self, deltas: frozenset[str], max_frames: int) -> None:
        self.deltas = deltas
        self.frames: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.dropped = False
        self.max_frames = max_frames

    def push(self, frame: bytes) -> None:
        if self.closed:
            return
        if len(self.frames) >= self.max_frames:
            self.dropped = True
            self.close()
            return
        self.frames.append(frame)
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()

    def take(self) -> list[bytes]:
        taken = list(self.frames)
        self.frames.clear()
        self.wake.clear()
        return taken


class Hub:
    """The open connections of one session (or thread)."""

    __slots__ = ("connections",)

    def __init__(self) -> None:
        self.connections: set[Connection] = set()

    def open(self, deltas: frozenset[str], max_frames: int) -> Connection:
        connection = Connection(deltas, max_frames)
        self.connections.add(connection)
        return connection

    def discard(self, connection: Connection) -> None:
        self.connections.discard(connection)

    def publish(self, frame: bytes) -> None:
        for connection in self.connections:
            connection.push(frame)

    def publish_preview(self, event_type: str, frame: bytes) -> None:
        for connection in self.connections:
            if event_type in connection.deltas:
                connection.push(frame)

    def close_all(self) -> None:
        for connection in self.connections:
            connection.close()
