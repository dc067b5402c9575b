"""An incremental SSE decoder: bytes in, frames out, bounded memory.

Follows the WHATWG event-stream rules the official SDK implements: lines end with `\\n`, `\\r` or
`\\r\\n` (a `\\r\\n` split across two chunks counts once); a blank line ends a frame; lines starting
with `:` are comments; several `data:` lines are joined with `\\n`; one space after the colon is
stripped. A frame larger than `max_frame_bytes` (or a line that never ends) is dropped whole and
reported as a `FrameError` with the frame's size (its bytes with one per line end, however the
stream was cut into chunks), so an endless frame cannot eat memory. Data stays bytes: the caller
decides whether it is valid UTF-8 JSON, so one bad frame never stops the stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

_LINE_END = re.compile(rb"\r\n|\r|\n")
DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024


class Frame(NamedTuple):
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
    """Feed it chunks as they arrive; it returns the frames completed by each chunk.

    The state of the frame being read (`_event`, `_data`, `_id`, `_size`, `_skipping`) lives in
    attributes between chunks and in locals within one: this loop runs once per line of every
    stream the process follows.
    """

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
        self._buf = bytearray()  # the start of a line whose end has not arrived yet
        self._pending_cr = False
        self._event: str | None = None
        self._data: list[bytes] = []
        self._id: str | None = None
        self._size = 0
        self._skipping = False

    def feed(self, chunk: bytes) -> list[Frame | FrameError]:
        """Decode `chunk`; return every frame it completed, in order."""
        if self._pending_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]  # the second half of a `\r\n` split across chunks
        self._pending_cr = False
        buf = self._buf
        if b"\n" not in chunk and b"\r" not in chunk:
            buf += chunk  # no line ends here: nothing to split, only the bound to check
            self._check_bound()
            return []
        if buf:
            buf += chunk
            chunk = bytes(buf)
            buf.clear()
        lines = chunk.split(b"\n") if b"\r" not in chunk else _LINE_END.split(chunk)
        buf += lines.pop()  # the unfinished last line ("" when the chunk ends a line)
        self._pending_cr = chunk[-1:] == b"\r"
        out = self._decode_lines(lines)
        self._check_bound()
        return out

    def _decode_lines(self, lines: list[bytes]) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        limit = self._max
        event, data, id_, size, skipping = (
            self._event,
            self._data,
            self._id,
            self._size,
            self._skipping,
        )
        for line in lines:
            if not line:  # a blank line ends the frame
                if skipping:
                    out.append(FrameError("frame_too_large", size))
                    skipping = False
                elif data or event is not None:
                    out.append(Frame(event, data[0] if len(data) == 1 else b"\n".join(data), id_))
                event, data, id_, size = None, [], None, 0
                continue
            size += len(line) + 1
            if skipping:
                continue
            if size > limit:
                skipping, data = True, []
                continue
            if line[0] == 0x3A:  # ":" starts a comment
                continue
            field, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                data.append(value)
            elif field == b"event":
                event = value.decode("utf-8", "replace")
            elif field == b"id":
                id_ = value.decode("utf-8", "replace")
        self._event, self._data, self._id, self._size, self._skipping = (
            event,
            data,
            id_,
            size,
            skipping,
        )
        return out

    def _check_bound(self) -> None:
        """Drop the frame being read once it (with its unfinished line) exceeds the bound."""
        buf = self._buf
        if len(buf) + self._size <= self._max:
            return
        self._size += len(buf)
        self._skipping = True
        self._data = []
        buf.clear()
