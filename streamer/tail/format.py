"""One line per event: `time  session  type  summary`, coloured for a terminal, plain for a pipe.

The time is the event's `processed_at` (header `ce_time`) in UTC, to the millisecond; the session
is the last 8 characters of its id (enough to tell sessions apart, and what `--session` accepts).
Every piece of text is cleaned of control characters first: event text is written by models and
tools, and an escape sequence in it must not reach the terminal.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from datetime import UTC, datetime

from consumers.base import EventRecord
from streamer.tail.summary import Summary, summarize
from streamer.timestamps import instant

SHORT_ID_CHARS = 8
TYPE_WIDTH = 24
PLAIN_SUMMARY_CHARS = 240  # piped output: long enough for grep, short enough for one line
MIN_SUMMARY_CHARS = 20
TOOL_NAMES_KEPT = 10_000

# ANSI SGR codes. Sessions get one of a few colours, chosen by a stable hash of their id.
DIM, BOLD, RED, GREEN, YELLOW = "2", "1", "31", "32", "33"
SESSION_COLOURS = ("36", "35", "34", "32", "33", "96", "95", "94")
DOMAIN_COLOURS = {"agent": "36", "user": "32", "session": "33", "span": "2", "workflow_run": "35"}
TONE_COLOURS = {"bad": RED, "good": GREEN, "ask": f"{BOLD};{YELLOW}"}

# C0 and C1 control characters (and DEL) become visible escapes; a tab becomes a space.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]} | {0x09: " "}


def clean(text: str) -> str:
    """`text` with every control character shown as `\\xNN` (tabs as spaces)."""
    return text.translate(_CONTROLS)


def short_id(session_id: str) -> str:
    """The last 8 characters of a session id (`sesn_01…` ids share their first characters)."""
    return session_id[-SHORT_ID_CHARS:]


def clock(timestamp: str | None, fallback_ms: int = 0) -> str:
    """`HH:MM:SS.mmm` (UTC) of an RFC 3339 timestamp; of `fallback_ms` when it is absent."""
    moment = instant(timestamp) if timestamp else None
    if moment is None:
        if timestamp:
            return clean(timestamp)[:12].ljust(12)
        moment = datetime.fromtimestamp(fallback_ms / 1000, UTC)
    return moment.astimezone(UTC).strftime("%H:%M:%S.%f")[:12]


class LineFormatter:
    """Turns records into lines; remembers tool names so a result can say which tool it ends.

    `colour`: ANSI colours. `width`: the terminal's width, to keep each line on one row (None:
    no terminal, summaries cut at `PLAIN_SUMMARY_CHARS`).
    """

    def __init__(self, *, colour: bool = False, width: int | None = None) -> None:
        self.colour = colour
        self.width = width
        self._tools: OrderedDict[str, str] = OrderedDict()

    def event(self, record: EventRecord) -> str:
        """The line of one event."""
        self.remember(record)
        summary = summarize(record.type, record.data, self._tools)
        when = _header(record, "ce_time") or _str(record.data.get("processed_at"))
        return self._line(clock(when, record.timestamp_ms), record.session_id, record.type,
                          summary)  # fmt: skip

    def malformed(
        self, *, session_id: str, event_type: str, partition: int, offset: int, timestamp_ms: int,
        error: str,
    ) -> str:  # fmt: skip
        """The line of a record that is not an event: where it is and what is wrong with it."""
        text = f"malformed record (partition {partition}, offset {offset}): {error}"
        return self._line(clock(None, timestamp_ms), session_id, event_type or "?",
                          Summary(text, "bad"))  # fmt: skip

    def _line(self, when: str, session_id: str, event_type: str, summary: Summary) -> str:
        event_type = clean(event_type)
        session = clean(short_id(session_id)).ljust(SHORT_ID_CHARS)
        kind = event_type.ljust(TYPE_WIDTH)
        text = self._fit(clean(summary.text), len(when) + len(session) + len(kind) + 6)
        if not self.colour:
            return f"{when}  {session}  {kind}  {text}".rstrip()
        domain = event_type.partition(".")[0]
        parts = (
            _paint(when, DIM),
            _paint(session, SESSION_COLOURS[zlib.crc32(session_id.encode()) % 8]),
            _paint(kind, DOMAIN_COLOURS.get(domain, BOLD)),
            _paint(text, TONE_COLOURS.get(summary.tone, "")),
        )
        return "  ".join(parts).rstrip()

    def _fit(self, text: str, used: int) -> str:
        room = PLAIN_SUMMARY_CHARS if self.width is None else self.width - used
        room = max(room, MIN_SUMMARY_CHARS)
        return text if len(text) <= room else text[: room - 1] + "…"

    def remember(self, record: EventRecord) -> None:
        """Note the tool name of a tool use (also of one filtered out), for its result's line."""
        if not record.type.endswith("tool_use"):
            return
        name = record.data.get("name")
        if isinstance(name, str) and record.event_id:
            self._tools[record.event_id] = name
            if len(self._tools) > TOOL_NAMES_KEPT:
                self._tools.popitem(last=False)


def _paint(text: str, code: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if code and text else text


def _header(record: EventRecord, name: str) -> str | None:
    value = record.headers.get(name)
    return value.decode("utf-8", "replace") if value else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
