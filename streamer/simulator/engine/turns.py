"""One agent turn: model requests, tool uses with permission checks, approvals, results."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from streamer.simulator.engine.agents import resolve_policy
from streamer.simulator.engine.pacing import Pacer
from streamer.simulator.engine.tools import tool_input, tool_output
from streamer.simulator.registry import Registry
from streamer.simulator.session import Pending, SimSession

_SENTENCES = (
    "Let me look at the repository layout first.",
    "The failing test points at the retry logic in the client.",
    "I will run the unit tests to confirm the fix.",
    "The change is small: a missing await in the reconnect path.",
    "Everything passes now; here is a summary of what changed.",
)
INTERRUPTED_TEXT = "Tool execution was interrupted before completion. Please retry."


class TurnInterruptedError(Exception):
    """The current turn was interrupted by a `user.interrupt`."""


@dataclass(slots=True)
class TurnShape:
    """How much a scenario's turn does."""

    steps: tuple[int, int] = (1, 3)
    tools_per_step: tuple[int, int] = (1, 2)
    tool_names: tuple[str, ...] = ("bash", "read", "write", "edit", "grep", "web_fetch")
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
        await self.pacer.admit()
        return self.registry.persist(self.session, event)

    async def think(self, secs: float | None = None) -> None:
        base = self.shape.think_secs if secs is None else secs
        spent = await self.pacer.pause(base * (0.5 + self.rng.random()))
        self.session.usage.active_seconds += spent

    async def run(self) -> None:
        """Running → steps (model request, tools, approvals, results) → reply → idle end_turn."""
        self.session.status = "running"
        await self.emit({"type": "session.status_running"})
        try:
            for _ in range(self.rng.randint(*self.shape.steps)):
                await self.model_request()
                await self.tool_round()
            await self.model_request(final=True)
        except TurnInterruptedError:
            head = self.session.inbox.peek()
            if head is not None and head["type"] == "user.interrupt":
                await self.process(self.session.inbox.pop())
        await self.emit({"type": "session.usage", "usage": self.session.usage.to_json()})
        await self.idle({"type": "end_turn"})

    async def idle(self, stop_reason: dict[str, Any]) -> None:
        self.session.status = "idle"
        await self.emit({"type": "session.status_idle", "stop_reason": stop_reason})

    async def model_request(self, *, final: bool = False) -> None:
        self.check_interrupt()
        start = await self.emit({"type": "span.model_request_start"})
        await self.emit({"type": "agent.thinking"})
        await self.think()
        text = self.rng.choice(_SENTENCES[-1:] if final else _SENTENCES[:-1])
        await self.message(text)
        usage = self.model_usage()
        self.session.usage.add(usage)
        await self.emit(
            {
                "type": "span.model_request_end",
                "model_request_start_id": start["id"],
                "model_usage": usage,
                "is_error": False,
            }
        )

    async def message(self, text: str) -> None:
        event_id = self.registry.ids.new("sevt_")
        preview = {"type": "event_start", "event": {"type": "agent.message", "id": event_id}}
        self.registry.preview(self.session, "agent.message", preview)
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

    async def tool_round(self) -> None:
        self.check_interrupt()
        count = self.rng.randint(*self.shape.tools_per_step)
        uses = [await self.tool_use(self.rng.choice(self.shape.tool_names)) for _ in range(count)]
        asked = [use for use in uses if use["evaluated_permission"] == "ask"]
        for use in uses:
            if use["evaluated_permission"] == "allow":
                await self.think(0.2)
                await self.tool_result(use, None)
        if asked:
            await self.await_answers(asked)

    async def tool_use(self, name: str) -> dict[str, Any]:
        kind = resolve_policy(self.session.agent, name)
        permission, evaluation = self.evaluate(kind)
        tool_input_ = tool_input(name, self.rng)
        event = {
            "type": "agent.tool_use",
            "name": name,
            "input": tool_input_,
            "evaluated_permission": permission,
            "evaluation": evaluation,
        }
        return await self.emit(event)

    def evaluate(self, kind: str) -> tuple[str, dict[str, Any]]:
        if kind == "always_ask":
            return "ask", {"type": "always_ask"}
        if kind == "auto":
            roll = self.rng.random()
            judged = (
                {"type": "allow"}
                if roll < 0.7
                else {"type": "ask", "reason_code": "indeterminate"}
                if roll < 0.9
                else {"type": "deny", "reason_code": "high_risk"}
            )
            return str(judged["type"]), {"type": "auto", "evaluated_permission": judged}
        return "allow", {"type": "always_allow"}

    async def tool_result(self, use: dict[str, Any], error_text: str | None) -> None:
        text = error_text if error_text is not None else tool_output(use["name"], use["input"])
        event: dict[str, Any] = {
            "type": "agent.tool_result",
            "tool_use_id": use["id"],
            "content": [{"type": "text", "text": text}],
            "is_error": error_text is not None,
        }
        await self.emit(event)

    async def await_answers(self, asked: list[dict[str, Any]]) -> None:
        """requires_action until every asked id is answered; partial answers re-emit idle."""
        for use in asked:
            self.session.pending[use["id"]] = Pending("confirmation", use)
        await self.idle({"type": "requires_action", "event_ids": [u["id"] for u in asked]})
        answers: dict[str, dict[str, Any]] = {}
        try:
            while len(answers) < len(asked):
                event = await self.session.inbox.get_matching(self.is_answer_or_interrupt)
                if event["type"] == "user.interrupt":
                    await self.abandon(asked, answers, event)
                answers[event["tool_use_id"]] = await self.process(event)
                remainder = self.session.waiting_ids()
                if remainder and not self.session.inbox.any(self.is_answer_or_interrupt):
                    await self.idle({"type": "requires_action", "event_ids": remainder})
        finally:
            for use in asked:
                self.session.pending.pop(use["id"], None)
        await self.resume(asked, answers)

    def is_answer_or_interrupt(self, event: dict[str, Any]) -> bool:
        return event["type"] == "user.interrupt" or (
            event["type"] == "user.tool_confirmation"
            and event.get("tool_use_id") in self.session.pending
        )

    async def resume(self, asked: list[dict[str, Any]], answers: dict[str, dict[str, Any]]) -> None:
        self.session.status = "running"
        await self.emit({"type": "session.status_running"})
        for use in asked:
            answer = answers[use["id"]]
            if answer["result"] == "allow":
                await self.think(0.2)
                await self.tool_result(use, None)
            else:
                message = answer.get("deny_message") or "The user denied this tool call."
                await self.tool_result(use, message)

    async def abandon(
        self,
        asked: list[dict[str, Any]],
        answers: dict[str, dict[str, Any]],
        interrupt: dict[str, Any],
    ) -> None:
        """An interrupt while blocked: persist it, close each open call with an error result."""
        await self.process(interrupt)
        for use in asked:
            if use["id"] not in answers:
                await self.tool_result(use, INTERRUPTED_TEXT)
        raise TurnInterruptedError

    def check_interrupt(self) -> None:
        head = self.session.inbox.peek()
        if head is not None and head["type"] == "user.interrupt":
            raise TurnInterruptedError

    async def process(self, event: dict[str, Any]) -> dict[str, Any]:
        """The second echo of a queued client event: stamped and persisted."""
        event["processed_at"] = None
        return await self.emit(event)
