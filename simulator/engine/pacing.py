"""Time compression and the simulator-wide event-rate cap.

Timers are what a simulator with thousands of sessions spends its time on (each `asyncio.sleep`
pushes to and cancels from the loop's timer heap), so both halves avoid them where they can:
a compressed pause shorter than a millisecond only yields, and the rate cap lets a few
milliseconds of events through in a burst before anyone sleeps.
"""

from __future__ import annotations

import asyncio
import time

MIN_SLEEP_SECS = 0.001
BURST_SECS = 0.01


class Pacer:
    """`pause(secs)` sleeps secs/speed; `admit()` holds event production to `rate_eps`."""

    def __init__(self, speed: float, rate_eps: float = 0.0) -> None:
        self.speed = speed
        self.rate_eps = rate_eps
        self._next_slot = 0.0

    async def pause(self, secs: float) -> float:
        """Sleep for a compressed `secs`; returns the simulated seconds (for active time)."""
        compressed = secs / self.speed
        await asyncio.sleep(compressed if compressed >= MIN_SLEEP_SECS else 0)
        return secs

    async def admit(self) -> None:
        """Wait for a slot under the rate cap (a shared leaky bucket); free when uncapped."""
        if self.rate_eps <= 0:
            return
        now = time.monotonic()
        slot = max(self._next_slot, now - BURST_SECS)
        self._next_slot = slot + 1.0 / self.rate_eps
        if slot - now > BURST_SECS:
            await asyncio.sleep(slot - now)
