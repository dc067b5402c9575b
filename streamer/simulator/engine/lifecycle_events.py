"""Session endings shared by the engine and the failures it injects."""

from __future__ import annotations

from streamer.simulator.registry import Registry
from streamer.simulator.session import SimSession


async def terminate(session: SimSession, registry: Registry) -> None:
    """`session.status_terminated`, then every open stream ends (spec open question 3)."""
    session.status = "terminated"
    session.autopilot_done = True  # nobody drives a terminated session
    registry.persist(session, {"type": "session.status_terminated"})
    for thread in session.threads.values():
        thread.hub.close_all()
    session.hub.close_all()
