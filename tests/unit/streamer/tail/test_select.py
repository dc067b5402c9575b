"""`streamer tail`'s filters and `--since`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streamer.tail.select import Selection, parse_since

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", datetime(2026, 12, 7, 11, 50, tzinfo=UTC)),
        ("1.5h", datetime(2026, 12, 7, 10, 30, tzinfo=UTC)),
        ("1d", datetime(2026, 12, 6, 12, 0, tzinfo=UTC)),
        ("2026-12-07T09:00:00Z", datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
        ("2026-12-07T10:00:00+01:00", datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
    ],
)
def test_since_is_a_duration_back_from_now_or_a_time(text: str, expected: datetime) -> None:
    assert expected == parse_since(text, now=NOW)


def test_since_of_something_else_says_what_it_accepts() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_since("yesterday", now=NOW)


def test_filters_of_one_kind_are_or_of_different_kinds_and() -> None:
    selection = Selection(sessions=("sesn_01AAAA", "BBBBBBBB"), types=("agent.*", "user.message"))
    admitted = [
        selection.admits(session, event_type, "", "")
        for session, event_type in [
            ("sesn_01AAAA", "agent.tool_use"),
            ("sesn_01xxBBBBBBBB", "user.message"),  # the short id: its last characters
            ("sesn_01AAAA", "session.status_idle"),
            ("sesn_01CCCC", "agent.message"),
        ]
    ]

    assert [True, True, False, False] == admitted


def test_an_agent_filter_leaves_out_records_without_an_agent() -> None:
    selection = Selection(agents=("agent_b*",))

    assert [True, False, False] == [
        selection.admits("s", "t", agent, "") for agent in ("agent_beta", "agent_a", "")
    ]


def test_since_leaves_out_events_processed_earlier_but_keeps_undated_ones() -> None:
    selection = Selection(since=datetime(2026, 12, 7, 9, 0, tzinfo=UTC))

    assert [True, False, True] == [
        selection.admits("s", "t", "", when)
        for when in ("2026-12-07T09:00:01Z", "2026-12-07T08:59:59Z", "")
    ]
