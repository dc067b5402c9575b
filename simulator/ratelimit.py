"""Per-organization request rate limits (spec §12.1): create vs other endpoints, per minute.

Off by default (0 = unlimited) so tests and benchmarks are not throttled; the documented numbers
are `create_rpm=60, other_rpm=600`. A limited request gets 429 `rate_limit_error` with
`retry-after` = seconds until the oldest request in the window leaves it.
"""

from __future__ import annotations

import math
import time
from collections import deque

WINDOW_SECS = 60.0


class RateLimiter:
    """Sliding one-minute windows, one per endpoint class."""

    def __init__(self, create_rpm: int, other_rpm: int) -> None:
        self.limits = {"create": create_rpm, "other": other_rpm}
        self.windows: dict[str, deque[float]] = {"create": deque(), "other": deque()}

    def check(self, route: str) -> float | None:
        """Admit the request (None), or the seconds the client should wait."""
        kind = "create" if route == "create" else "other"
        limit = self.limits[kind]
        if limit <= 0:
            return None
        now = time.monotonic()
        window = self.windows[kind]
        while window and now - window[0] >= WINDOW_SECS:
            window.popleft()
        if len(window) >= limit:
            return max(1.0, math.ceil(WINDOW_SECS - (now - window[0])))
        window.append(now)
        return None
