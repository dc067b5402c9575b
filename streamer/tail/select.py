"""Which records `streamer tail` shows: by session, type glob, agent and event time.

Sessions, types, agents and times are those of the record's key and CloudEvents headers
(`ce_subject`, `ce_type`, `ce_agentid`, `ce_time`; docs/RECORDS.md), the event's own fields where
a header is missing. Each filter given more than once is an "or"; different filters are an "and".
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from streamer.timestamps import instant

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float | None = None) -> datetime:
    """`10m`, `90s`, `2h`, `1d` before now, or an ISO 8601 / RFC 3339 time (naive: UTC)."""
    match = _DURATION.fullmatch(text.strip())
    if match:
        secs = float(match.group(1)) * _UNIT_SECS[match.group(2)]
        return datetime.fromtimestamp((time.time() if now is None else now) - secs, UTC)
    moment = instant(text.strip())
    if moment is None:
        raise ValueError(f"not a duration (10m, 2h) nor an ISO time: {text!r}")
    return moment


@dataclass(frozen=True)
class Selection:
    """The filters of one `streamer tail`; empty ones let everything through."""

    sessions: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    since: datetime | None = None

    def admits(self, session_id: str, event_type: str, agent_id: str, event_time: str) -> bool:
        """Whether a record of this session, type, agent and `processed_at` passes the filters
        (an empty value matches no filter on it)."""
        if self.sessions and not any(_same_session(session_id, s) for s in self.sessions):
            return False
        if self.types and not _globbed(event_type, self.types):
            return False
        if self.agents and not _globbed(agent_id, self.agents):
            return False
        return self.since is None or self._recent(event_time)

    def _recent(self, event_time: str) -> bool:
        # The reader starts at the first record written at `since` or later; an event written
        # then but processed earlier (history caught up late) is older than asked, so it is left
        # out. No `ce_time` (or an unreadable one): the write time decided.
        moment = instant(event_time) if event_time else None
        return moment is None or self.since is None or moment >= self.since


def _same_session(session_id: str, wanted: str) -> bool:
    """A full id, or the short form `streamer tail` prints (its last characters)."""
    return session_id == wanted or (len(wanted) >= 4 and session_id.endswith(wanted))


def _globbed(value: str, patterns: tuple[str, ...]) -> bool:
    return bool(value) and any(fnmatchcase(value, pattern) for pattern in patterns)
