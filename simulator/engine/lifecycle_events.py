"""Session endings shared by the engine and the failures it injects."""

from __future__ import annotations

from simulator.registry import Registry
from simulator.session import SimSession


async def terminate(session: SimSession, registry: Registry) -> None:
    """`session.status_terminated`, then every open stream ends (spec open question 3)."""
    session.status = "terminated"
    session.autopilot_done = True  # nobody drives a terminated session
    for thread in session.threads.values():
        if thread.status != "terminated":
            thread.status = "terminated"
            ended = {"session_thread_id": thread.id, "agent_name": thread.agent_name}
            registry.persist(session, {"type": "session.thread_status_terminated", **ended})
    registry.persist(session, {"type": "session.status_terminated"})
    for thread in session.threads.values():
        thread.hub.close_all()
    session.hub.close_all()
