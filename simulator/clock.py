"""Identifiers and timestamps: `sevt_`-style ids and strictly increasing RFC 3339 stamps."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class Ids:
    """Opaque ids with the API's prefixes: random bits first (so ids do not sort by time, as
    clients must not rely on), then a counter (so they never collide). Seeded, and cheap: one
    is minted for every event."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - ids only need to be unique, not secret
        self._count = 0

    def new(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}01{self._rng.getrandbits(64):016x}{self._count:08x}"


class Clock:
    """Wall-clock stamps with microseconds, strictly increasing across the whole simulator.

    Strictly increasing stamps make `processed_at` a total order of persistence, so history
    sorted by `processed_at` is exactly persistence order and cursors never straddle a tie.
    """

    def __init__(self) -> None:
        self._last_us = 0
        self._second = -1
        self._prefix = ""

    def now_us(self) -> int:
        now = time.time_ns() // 1000
        self._last_us = max(now, self._last_us + 1)
        return self._last_us

    def stamp(self) -> str:
        """The next stamp; formats the date part once per second (this runs for every event)."""
        micros = self.now_us()
        second, fraction = divmod(micros, 1_000_000)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{fraction:06d}Z"


def format_us(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1_000_000, UTC).strftime(STAMP_FORMAT)


def normalize_stamp(value: str) -> str:
    """Any RFC 3339 / ISO 8601 time as the simulator's canonical, comparable string."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime(STAMP_FORMAT)
