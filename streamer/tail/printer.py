"""From a Kafka record to what `streamer tail` prints for it: a line, a JSON value, or nothing.

A record that is not an event (no value, not JSON, no type or id: `EventRecord.parse`, the same
test the consumers apply) is shown as one line saying where it is and what is wrong, and reading
carries on; with `--json` that line goes to standard error, so that standard output stays JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from consumers.base import EventRecord
from consumers.errors import BadRecordError
from streamer.tail.format import LineFormatter
from streamer.tail.select import Selection


class Printer:
    """Applies the selection and renders each record; `width` follows the terminal's."""

    def __init__(
        self,
        selection: Selection,
        *,
        json: bool = False,
        colour: bool = False,
        width: int | None = None,
        warn: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.selection = selection
        self.json = json
        self.lines = LineFormatter(colour=colour, width=width)
        self._warn = warn

    @property
    def width(self) -> int | None:
        """The terminal's width (None: not a terminal)."""
        return self.lines.width

    @width.setter
    def width(self, columns: int | None) -> None:
        self.lines.width = columns

    def render(self, message: Any) -> bytes:
        """The bytes to print for one aiokafka `ConsumerRecord` (b"" when filtered out)."""
        headers = {key: bytes(value or b"") for key, value in (message.headers or ())}
        try:
            record = EventRecord.parse(
                topic=message.topic, partition=message.partition, offset=message.offset,
                key=message.key, value=message.value, headers=headers,
                timestamp_ms=message.timestamp,
            )  # fmt: skip
        except BadRecordError as exc:
            return self._malformed(message, headers, str(exc))
        self.lines.remember(record)
        event_type = _header(headers, "ce_type") or record.type
        event_time = _header(headers, "ce_time") or str(record.data.get("processed_at") or "")
        agent = _header(headers, "ce_agentid")
        if not self.selection.admits(record.session_id, event_type, agent, event_time):
            return b""
        if self.json:
            return _json_line(record)
        return (self.lines.event(record) + "\n").encode("utf-8", "replace")

    def _malformed(self, message: Any, headers: dict[str, bytes], error: str) -> bytes:
        session = (message.key or b"").decode("utf-8", "replace") or _header(headers, "ce_subject")
        event_type = _header(headers, "ce_type")
        admitted = self.selection.admits(session, event_type, _header(headers, "ce_agentid"),
                                         _header(headers, "ce_time"))  # fmt: skip
        if not admitted:
            return b""
        if self.json:
            self._warn(f"skipped a malformed record (partition {message.partition}, offset "
                       f"{message.offset}, session {session or '?'}): {error}")  # fmt: skip
            return b""
        line = self.lines.malformed(
            session_id=session, event_type=event_type, partition=message.partition,
            offset=message.offset, timestamp_ms=message.timestamp, error=error,
        )  # fmt: skip
        return (line + "\n").encode("utf-8", "replace")


def _json_line(record: EventRecord) -> bytes:
    """The value as the API sent it, on one line (re-serialised only if it spans several)."""
    raw = record.raw
    if b"\n" in raw or b"\r" in raw:
        raw = orjson.dumps(record.data)
    return raw + b"\n"


def _header(headers: dict[str, bytes], name: str) -> str:
    return headers.get(name, b"").decode("utf-8", "replace")
