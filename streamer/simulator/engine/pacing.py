"""Time compression and the simulator-wide event-rate cap."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """`pause(secs)` sleeps secs/speed; `admit()` holds event production to `rate_eps`."""

    def __init__(self, speed: float, rate_eps: float = 0.0) -> None:
        self.speed = speed
        self.rate_eps = rate_eps
        self._next_slot = 0.0

    async def pause(self, secs: float) -> float:
        """Sleep for a compressed `secs`; returns the simulated seconds (for active time)."""
        await asyncio.sleep(secs / self.speed)
        return secs

    async def admit(self) -> None:
        """Wait for a slot under the rate cap (a shared leaky bucket); free when uncapped."""
        if self.rate_eps <= 0:
            return
        now = time.monotonic()
        slot = max(self._next_slot, now)
        self._next_slot = slot + 1.0 / self.rate_eps
        if slot - now > 0.001:
            await asyncio.sleep(slot - now)
