"""Ordering RFC 3339 timestamps."""

from __future__ import annotations

import pytest

from streamer.timestamps import is_later


@pytest.mark.parametrize(
    ("candidate", "current", "later"),
    [
        ("2026-01-01T00:00:01Z", "2026-01-01T00:00:00Z", True),
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", False),
        ("2026-01-01T00:00:00.187Z", "2026-01-01T00:00:00.190Z", False),
        # `.19Z` sorts before `.187Z` as a string but is the later instant
        ("2026-01-01T00:00:00.19Z", "2026-01-01T00:00:00.187Z", True),
        # same length, different offsets: 00:30 UTC is after 00:00 UTC
        ("2026-01-01T00:30:00+00:00", "2026-01-01T01:00:00+01:00", True),
        # a naive timestamp is taken as UTC
        ("2026-01-01T00:00:01", "2026-01-01T00:00:00Z", True),
    ],
)
def test_is_later_orders_instants(candidate: str, current: str, later: bool) -> None:
    """Later means a later instant, whatever the precision or offset."""
    assert later is is_later(candidate, current)


def test_unparsable_timestamps_still_order() -> None:
    """A pair that cannot be parsed compares as strings rather than raising."""
    assert is_later("b-not-a-time", "a-not-a-time")
    assert not is_later("a-not-a-time", "b-not-a-time")
