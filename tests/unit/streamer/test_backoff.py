"""The one retry schedule."""

from __future__ import annotations

import pytest

from streamer.backoff import Backoff


def test_delays_double_from_the_initial_one_up_to_the_cap_within_the_jitter() -> None:
    backoff = Backoff(initial_secs=0.5, max_secs=4.0, jitter=0.25)
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]

    outside = [
        (attempt, delay)
        for attempt, ceiling in enumerate(ceilings)
        for delay in (backoff.delay(attempt) for _ in range(200))
        if not ceiling * 0.75 <= delay <= ceiling
    ]

    assert [] == outside


def test_a_servers_retry_after_wins_but_is_capped() -> None:
    backoff = Backoff(initial_secs=0.5, max_secs=4.0, max_retry_after_secs=30.0)

    assert [7.0, 30.0, 0.0] == [
        backoff.delay(0, retry_after=7.0),
        backoff.delay(0, retry_after=3600.0),
        backoff.delay(5, retry_after=0.0),
    ]


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert Backoff(0.1, 2.0, jitter=0.0).delay(10_000) == 2.0


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="jitter"):
        Backoff(0.1, 1.0, jitter=1.5)
