"""The shared context of one agent turn: what failures, outcomes, tool rounds and subagent
threads act on, and the events they all emit. The turn's flow (`turns.Turn`) builds on it, so
those parts never import the flow back (no import cycle).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from simulator.engine.pacing import Pacer
from simulator.registry import Registry
from simulator.session import SimSession


class TurnEndedError(Exception):
    """The turn stops early; `stop_reason` is the idle's (None: terminated, no idle)."""

    def __init__(self, stop_reason: dict[str, Any] | None) -> None:
        super().__init__(stop_reason)
        self.stop_reason = stop_reason


@dataclass(slots=True, frozen=True)
class TurnShape:
    """How much a scenario's turn does, and what kinds of things."""

    steps: tuple[int, int] = (1, 3)
    tools_per_step: tuple[int, int] = (1, 2)
    tool_names: tuple[str, ...] = ("bash", "read", "write", "edit", "grep", "web_fetch")
    # weights of: built-in tool, MCP tool, custom tool, subagent thread
    action_weights: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    error_chance: float = 0.0
    # chance that a session's very first model request fails for good (the session ends at once)
    fail_at_once_chance: float = 0.0
    outcome_chance: float = 0.0
    think_secs: float = 0.4


class TurnContext:
    """What a turn's parts share (session, registry, pacing, randomness, shape) and the events
    they all emit; `turns.Turn` adds the turn's flow. Emits through the registry (the only
    persistence path)."""

    def __init__(
        self,
        session: SimSession,
        registry: Registry,
        pacer: Pacer,
        rng: random.Random,
        shape: TurnShape,
    ) -> None:
        self.session = session
        self.registry = registry
        self.pacer = pacer
        self.rng = rng
        self.shape = shape

    async def emit(self, event: dict[str, Any]) -> dict[str, Any]:
        if self.pacer.rate_eps:
            await self.pacer.admit()
        return self.registry.persist(self.session, event)

    async def think(self, secs: float | None = None) -> None:
        base = self.shape.think_secs if secs is None else secs
        spent = await self.pacer.pause(base * (0.5 + self.rng.random()))
        self.session.usage.active_seconds += spent

    async def set_running(self) -> None:
        self.session.status = "running"
        await self.emit({"type": "session.status_running"})

    def usage_event(self) -> dict[str, Any]:
        return {
            "type": "session.usage",
            "usage": self.session.usage.to_json(),
            "budget": self.session.budget,
        }

    async def idle(self, stop_reason: dict[str, Any]) -> None:
        self.session.status = "idle"
        await self.emit({"type": "session.status_idle", "stop_reason": stop_reason})

    async def span_end(self, start_id: str, *, is_error: bool) -> None:
        usage = self.model_usage()
        self.session.usage.add(usage)
        await self.emit(
            {
                "type": "span.model_request_end",
                "model_request_start_id": start_id,
                "model_usage": usage,
                "is_error": is_error,
            }
        )
        await self.check_budget()

    async def check_budget(self) -> None:
        """Past the budget: a usage snapshot, then idle `budget_reached`; the turn pauses dead."""
        budget = self.session.budget
        if budget is None:
            return
        if self.session.usage.list_cost_cents() < int(budget["max_list_cost"]["amount"]):
            return
        self.session.paused_at_budget = True
        await self.emit(self.usage_event())
        await self.idle({"type": "budget_reached"})
        raise TurnEndedError(None)

    def preview_start(self, event_type: str, event_id: str) -> None:
        preview = {"type": "event_start", "event": {"type": event_type, "id": event_id}}
        self.registry.preview(self.session, event_type, preview)

    async def message(self, text: str) -> None:
        """`event_start` + `event_delta`s for opted-in connections, then the buffered message."""
        event_id = self.registry.ids.new("sevt_")
        self.preview_start("agent.message", event_id)
        words = text.split(" ")
        for index in range(0, len(words), 3):
            chunk = " ".join(words[index : index + 3]) + " "
            delta = {
                "type": "event_delta",
                "event_id": event_id,
                "delta": {
                    "type": "content_delta",
                    "index": 0,
                    "content": {"type": "text", "text": chunk},
                },
            }
            self.registry.preview(self.session, "agent.message", delta)
        content = [{"type": "text", "text": text}]
        await self.emit({"type": "agent.message", "id": event_id, "content": content})

    def model_usage(self) -> dict[str, int]:
        return {
            "input_tokens": self.rng.randint(200, 4000),
            "output_tokens": self.rng.randint(50, 800),
            "cache_creation_input_tokens": self.rng.randint(0, 2000),
            "cache_read_input_tokens": self.rng.randint(0, 20000),
        }

    def check_interrupt(self) -> None:
        """End the turn (end_turn) if a `user.interrupt` jumped the queue."""
        head = self.session.inbox.peek()
        if head is not None and head["type"] == "user.interrupt":
            raise TurnEndedError({"type": "end_turn"})

    async def process(self, event: dict[str, Any]) -> dict[str, Any]:
        """The second echo of a queued client event: stamped and persisted."""
        event["processed_at"] = None
        return await self.emit(event)
