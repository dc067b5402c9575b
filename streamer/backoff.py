"""The one retry schedule: capped exponential delays with jitter, the server's advice first.

Every retry loop of the streamer and the consumers (a follower's reconnects, a crashed follower's
restart, the sink's batch retries, the runner's record retries, the approval bot's answers, a
start waiting for Kafka) asks a `Backoff` how long to wait before attempt `n`, so that they all
spread out the same way and honour `retry-after` the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_EXPONENT = 30  # 2**30 * any sane initial delay is far past any cap


@dataclass(frozen=True)
class Backoff:
    """Attempt `n` (0-based) waits a random time in `[c * (1 - jitter), c]`, where
    `c = min(initial_secs * 2**n, max_secs)`; a server's `retry_after` wins when given (capped at
    `max_retry_after_secs`)."""

    initial_secs: float
    max_secs: float
    jitter: float = 0.5
    max_retry_after_secs: float = 60.0

    def __post_init__(self) -> None:
        if min(self.initial_secs, self.max_secs) < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("Backoff needs delays >= 0 and 0 <= jitter <= 1")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry `attempt` (0 for the first retry)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after_secs)
        ceiling = min(self.initial_secs * 2.0 ** min(max(attempt, 0), MAX_EXPONENT), self.max_secs)
        return ceiling * random.uniform(1.0 - self.jitter, 1.0)  # noqa: S311 - jitter, not crypto
