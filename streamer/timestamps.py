"""Ordering RFC 3339 timestamps as the API writes them, without parsing each one."""

from __future__ import annotations

from datetime import UTC, datetime


def is_later(candidate: str, current: str) -> bool:
    """True when RFC 3339 timestamp `candidate` is a later instant than `current`.

    The API writes timestamps in UTC (`Z`) at one precision, and two of that one shape order as
    strings: that is the path taken once per event. Any other pair is parsed (naive ones taken as
    UTC); a pair that cannot be parsed compares as strings, so the order is still total.
    """
    if len(candidate) == len(current) and candidate[-1:] == "Z" and current[-1:] == "Z":
        return candidate > current
    later, earlier = instant(candidate), instant(current)
    if later is None or earlier is None:
        return candidate > current
    return later > earlier


def instant(timestamp: str) -> datetime | None:
    """The instant of an RFC 3339 timestamp (naive ones taken as UTC); None if unparsable."""
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
