"""One agent turn: model requests (with previews, usage and injected errors), tool rounds
(`tooling.py`), outcome evaluations, then idle. The primitives the parts share live in
`context.py`.
"""

from __future__ import annotations

from typing import Any

from simulator.engine import failures, outcomes
from simulator.engine.context import TurnContext, TurnEndedError, TurnShape
from simulator.engine.tooling import ToolRound

__all__ = ["Turn", "TurnEndedError", "TurnShape"]

_SENTENCES = (
    "Let me look at the repository layout first.",
    "The failing test points at the retry logic in the client.",
    "I will run the unit tests to confirm the fix.",
    "The change is small: a missing await in the reconnect path.",
    "Everything passes now; here is a summary of what changed.",
)


class Turn(TurnContext):
    """Emits one turn's events: running, steps of (model request, tool round), idle."""

    async def run(self, outcome: dict[str, Any] | None = None) -> None:
        """Running → work (→ outcome evaluations) → usage → idle end_turn (or how it ended)."""
        await self.set_running()
        stop_reason: dict[str, Any] | None = {"type": "end_turn"}
        try:
            await self.work()
            if outcome is not None:
                await outcomes.evaluate(self, outcome, revise=self.work)
        except TurnEndedError as ended:
            stop_reason = ended.stop_reason
        if stop_reason is None:
            return
        head = self.session.inbox.peek()
        if head is not None and head["type"] == "user.interrupt":
            await self.process(self.session.inbox.pop())  # the interrupt that ended the turn
        await self.emit(self.usage_event())
        await self.idle(stop_reason)

    async def work(self) -> None:
        """Steps of (model request, tool round), then the closing reply."""
        for _ in range(self.rng.randint(*self.shape.steps)):
            await self.model_request()
            await ToolRound(self).run()
        await self.model_request(final=True)

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
