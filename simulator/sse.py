"""Live SSE fan-out: every open connection of a session gets the same pre-encoded frame bytes.

A clean connection (no stream faults) is written *directly*: publishing writes the frame to the
socket's transport at once, HTTP-chunk-framed once per event for all chunked connections, with no
task wake-up per frame. A connection with stream faults (or still being opened) buffers frames
for its writer task instead, which applies the faults. A connection whose unsent bytes exceed
the bound is cut (the client reconnects and reconciles from history): a stuck client cannot
grow memory without bound.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from typing import ClassVar, Protocol

PING_FRAME = b'event: ping\ndata: {"type":"ping"}\n\n'


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...

    def is_closing(self) -> bool: ...

    def get_write_buffer_size(self) -> int: ...


class Flusher:
    """Sends every direct connection's pending bytes once per loop iteration, in one callback.

    One callback for all connections (not one per connection) keeps the loop's ready queue short
    when an event fans out to thousands of streams.
    """

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Flusher]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.dirty: list[Connection] = []

    @classmethod
    def current(cls) -> Flusher:
        loop = asyncio.get_running_loop()
        flusher = cls._by_loop.get(loop)
        if flusher is None:
            flusher = cls._by_loop[loop] = cls(loop)
        return flusher

    def mark(self, connection: Connection) -> None:
        if not self.dirty:
            self.loop.call_soon(self.flush_all)
        self.dirty.append(connection)

    def flush_all(self) -> None:
        dirty, self.dirty = self.dirty, []
        for connection in dirty:
            connection.flush()


def chunk(frame: bytes) -> bytes:
    """One HTTP/1.1 chunk holding `frame`."""
    return b"%x\r\n%b\r\n" % (len(frame), frame)


class Connection:
    """One open stream: frames waiting to be written (or a direct transport) and its previews."""

    __slots__ = (
        "chunked",
        "closed",
        "deltas",
        "dropped",
        "flusher",
        "frames",
        "max_bytes",
        "max_frames",
        "outgoing",
        "transport",
        "wake",
    )

    def __init__(self, deltas: frozenset[str], max_frames: int, max_bytes: int) -> None:
        self.deltas = deltas
        self.frames: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.dropped = False
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.transport: Transport | None = None
        self.chunked = False
        self.outgoing: list[bytes] = []
        self.flusher = Flusher.current()

    def push(self, frame: bytes) -> None:
        if self.closed:
            return
        if len(self.frames) >= self.max_frames:
            self.drop()
            return
        self.frames.append(frame)
        self.wake.set()

    def go_direct(self, transport: Transport, *, chunked: bool) -> None:
        """From now on write straight to `transport`; frames buffered so far go first."""
        self.chunked = chunked
        self.transport = transport
        for frame in self.take():
            self.write(chunk(frame) if chunked else frame)

    def write(self, data: bytes) -> None:
        """Direct write, coalesced: everything published in one loop iteration is one send."""
        if self.closed:
            return
        if not self.outgoing:
            self.flusher.mark(self)
        self.outgoing.append(data)

    def flush(self) -> None:
        """Send what accumulated; a closing socket or a client too slow to drain it ends it."""
        data, self.outgoing = b"".join(self.outgoing), []
        transport = self.transport
        if transport is None or not data:
            return
        if transport.is_closing():
            self.close()
            return
        transport.write(data)
        if transport.get_write_buffer_size() > self.max_bytes:
            self.drop()

    def drop(self) -> None:
        self.dropped = True
        self.close()

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

    def open(self, deltas: frozenset[str], max_frames: int, max_bytes: int) -> Connection:
        connection = Connection(deltas, max_frames, max_bytes)
        self.connections.add(connection)
        return connection

    def discard(self, connection: Connection) -> None:
        self.connections.discard(connection)

    def publish(self, frame: bytes) -> None:
        chunked: bytes | None = None
        for connection in self.connections:
            if connection.transport is None:
                connection.push(frame)
            elif connection.chunked:
                chunked = chunked or chunk(frame)
                connection.write(chunked)
            else:
                connection.write(frame)

    def publish_preview(self, event_type: str, frame: bytes) -> None:
        for connection in self.connections:
            if event_type in connection.deltas:
                if connection.transport is None:
                    connection.push(frame)
                else:
                    connection.write(chunk(frame) if connection.chunked else frame)

    def close_all(self) -> None:
        for connection in self.connections:
            connection.close()
