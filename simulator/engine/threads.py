"""Subagent threads: creation, cross-posted approvals, messages, status (spec §2.4, §7.4)."""

from __future__ import annotations

from typing import Any

from simulator.engine.context import TurnContext
from simulator.engine.tools import tool_input
from simulator.session import SimThread
from simulator.store import StoredEvent, compact_json, sse_frame

AGENT_NAME = "reviewer"


class SubagentWork:
    """One delegation to a subagent thread within a tool round."""

    def __init__(self, turn: TurnContext, thread: SimThread) -> None:
        self.turn = turn
        self.thread = thread

    @classmethod
    async def start(cls, turn: TurnContext) -> SubagentWork:
        session, ids = turn.session, turn.registry.ids
        thread = next((t for t in session.threads.values() if t.status != "terminated"), None)
        if thread is None:
            thread = SimThread(
                ids.new("sthr_"), session.id, AGENT_NAME, turn.registry.clock.stamp()
            )
            session.threads[thread.id] = thread
            await turn.emit(named("session.thread_created", thread))
        work = cls(turn, thread)
        thread.status = "running"
        await turn.emit(named("session.thread_status_running", thread))
        content = [{"type": "text", "text": "Please review the change for risky commands."}]
        sent = {"type": "agent.thread_message_sent", "to_session_thread_id": thread.id}
        await turn.emit(sent | {"to_agent_name": AGENT_NAME, "content": content})
        return work

    async def cross_posted_use(self) -> dict[str, Any]:
        """The subagent asks for approval: persisted on its thread and cross-posted (same id)."""
        name = self.turn.rng.choice(("bash", "write"))
        event = {
            "type": "agent.tool_use",
            "name": name,
            "input": tool_input(name, self.turn.rng),
            "evaluated_permission": "ask",
            "evaluation": {"type": "always_ask"},
        }
        own = await self.emit(dict(event))
        return await self.turn.emit(event | {"id": own["id"], "session_thread_id": self.thread.id})

    async def emit(self, event: dict[str, Any]) -> dict[str, Any]:
        """Persist on the thread only (thread history and thread stream, not the session's)."""
        registry = self.turn.registry
        event.setdefault("id", registry.ids.new("sevt_"))
        event.setdefault("processed_at", registry.clock.stamp())
        body = compact_json(event)
        self.thread.log.append(StoredEvent(event["id"], event["type"], event["processed_at"], body))
        self.thread.hub.publish(sse_frame(event["type"], body))
        return event

    async def finish(self) -> None:
        """The subagent reports back and goes idle."""
        if self.thread.status == "idle":
            return
        content = [{"type": "text", "text": "Reviewed: two commands need a human decision."}]
        received = {
            "type": "agent.thread_message_received",
            "from_session_thread_id": self.thread.id,
        }
        await self.turn.emit(received | {"from_agent_name": AGENT_NAME, "content": content})
        self.thread.status = "idle"
        idle = named("session.thread_status_idle", self.thread)
        await self.turn.emit(idle | {"stop_reason": {"type": "end_turn"}})


def named(event_type: str, thread: SimThread) -> dict[str, Any]:
    return {"type": event_type, "session_thread_id": thread.id, "agent_name": thread.agent_name}
