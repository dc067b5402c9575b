"""An incremental SSE decoder: bytes in, frames out, bounded memory.

Follows the WHATWG event-stream rules the official SDK implements: lines end with `\\n`, `\\r` or
`\\r\\n` (a `\\r\\n` split across two chunks counts once); a blank line ends a frame; lines starting
with `:` are comments; several `data:` lines are joined with `\\n`; one space after the colon is
stripped. A frame larger than `max_frame_bytes` (or a line that never ends) is dropped whole and
reported as a `FrameError`, so an endless frame cannot eat memory. Data stays bytes: the caller
decides whether it is valid UTF-8 JSON, so one bad frame never stops the stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")
DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame. `event` is None when the frame had no `event:` field."""

    event: str | None
    data: bytes
    id: str | None = None


@dataclass(frozen=True, slots=True)
class FrameError:
    """A frame that could not be decoded; `reason` is from a fixed vocabulary."""

    reason: str
    size: int


class SSEDecoder:
    """Feed it chunks as they arrive; it returns the frames completed by each chunk."""

    __slots__ = (
        "_buf",
        "_data",
        "_event",
        "_id",
        "_max",
        "_pending_cr",
        "_size",
        "_skipping",
    )

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._max = max_frame_bytes
        self._buf = bytearray()
        self._pending_cr = False
        self._reset()
        self._skipping = False

    def _reset(self) -> None:
        self._event: str | None = None
        self._data: list[bytes] = []
        self._id: str | None = None
        self._size = 0

    def feed(self, chunk: bytes) -> list[Frame | FrameError]:
        """Decode `chunk`; return every frame it completed, in order."""
        if self._pending_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]  # the second half of a `\r\n` split across chunks
        self._pending_cr = False
        buf = self._buf
        buf += chunk
        out: list[Frame | FrameError] = []
        start = 0
        for match in _LINE_END.finditer(buf):
            self._line(bytes(buf[start : match.start()]), out)
            start = match.end()
        if start and buf[start - 1 : start] == b"\r":
            self._pending_cr = True
        del buf[:start]
        if len(buf) + self._size > self._max:
            self._overflow(len(buf))
            buf.clear()
        return out

    def _overflow(self, extra: int) -> None:
        if not self._skipping:
            self._size += extra
        self._skipping = True
        self._data = []

    def _line(self, line: bytes, out: list[Frame | FrameError]) -> None:
        if not line:
            self._dispatch(out)
            return
        if self._skipping:
            self._size += len(line)
            return
        self._size += len(line) + 1
        if self._size > self._max:
            self._overflow(0)
            return
        if line[:1] == b":":
            return
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._data.append(value)
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")
        elif field == b"id":
            self._id = value.decode("utf-8", "replace")

    def _dispatch(self, out: list[Frame | FrameError]) -> None:
        if self._skipping:
            out.append(FrameError("frame_too_large", self._size))
            self._skipping = False
        elif self._data or self._event is not None:
            out.append(Frame(self._event, b"\n".join(self._data), self._id))
        self._reset()
