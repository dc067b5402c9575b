"""Steady event flow for fault tests: inject events into simulator sessions at a rate."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from simulator import Simulator


@contextlib.asynccontextmanager
async def injecting(
    sim: Simulator, session_ids: Sequence[str], per_second: float = 100.0
) -> AsyncIterator[None]:
    """Inject `test.tick` events round-robin into `session_ids` while the block runs (not into
    one that has ended: nothing is written to a terminated session)."""

    async def flow() -> None:
        n = 0
        while True:
            for session_id in session_ids:
                if sim.session(session_id).status != "terminated":
                    sim.inject(session_id, {"type": "test.tick", "n": n})
                n += 1
            await asyncio.sleep(len(session_ids) / per_second)

    task = asyncio.create_task(flow())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def inject_burst(sim: Simulator, session_id: str, count: int, per_second: float) -> None:
    """Inject `count` `test.tick` events into one session at about `per_second`."""
    for n in range(count):
        sim.inject(session_id, {"type": "test.tick", "n": n})
        await asyncio.sleep(1 / per_second)
