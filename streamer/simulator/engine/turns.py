"""One agent turn: model requests (with previews, usage and injected errors), then idle.

Tool rounds live in `tooling.py`; a `Turn` is the context they share (session, registry,
pacing, randomness) plus the lifecycle around them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from streamer.simulator.engine import failures, outcomes
from streamer.simulator.engine.pacing import Pacer
from streamer.simulator.registry import Registry
from streamer.simulator.session import SimSession

_SENTENCES = (
    "Let me look at the repository layout first.",
    "The failing test points at the retry logic in the client.",
    "I will run the unit tests to confirm the fix.",
    "The change is small: a missing await in the reconnect path.",
    "Everything passes now; here is a summary of what changed.",
)


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
    outcome_chance: float = 0.0
    think_secs: float = 0.4


class Turn:
    """Emits one turn's events for `session` through the registry (the only persistence path)."""

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

    async def run(self, outcome: dict[str, Any] | None = None) -> None:
        """Running → work (→ outcome evaluations) → usage → idle end_turn (or how it ended)."""
        await self.set_running()
        stop_reason: dict[str, Any] | None = {"type": "end_turn"}
        try:
            await self.work()
            if outcome is not None:
                await outcomes.evaluate(self, outcome)
        except TurnEndedError as ended:
            stop_reason = ended.stop_reason
        if stop_reason is None:
            return
        await self.emit(self.usage_event())
        await self.idle(stop_reason)

    async def work(self) -> None:
        """Steps of (model request, tool round), then the closing reply."""
        from streamer.simulator.engine.tooling import ToolRound  # noqa: PLC0415 - cycle

        for _ in range(self.rng.randint(*self.shape.steps)):
            await self.model_request()
            await ToolRound(self).run()
        await self.model_request(final=True)

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

    async def model_request(self, *, final: bool = False) -> None:
        self.check_interrupt()
        start_id = str((await self.emit({"type": "span.model_request_start"}))["id"])
        if self.rng.random() < self.shape.error_chance:
            start_id = await failures.model_error(self, start_id)
        thinking_id = self.registry.ids.new("sevt_")
        self.preview_start("agent.thinking", thinking_id)
        await self.emit({"type": "agent.thinking", "id": thinking_id})
        await self.think()
        await self.message(self.rng.choice(_SENTENCES[-1:] if final else _SENTENCES[:-1]))
        await self.span_end(start_id, is_error=False)

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
