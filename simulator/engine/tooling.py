"""A tool round: tool uses of every kind, permission checks, approvals and results (spec §7).

Kinds: built-in tools (`agent.tool_use`, policy-gated), MCP tools (`agent.mcp_tool_use`,
policy-gated, MCP toolsets default to `always_ask`), custom tools (`agent.custom_tool_use`,
always answered by the client) and subagent threads whose approval requests are cross-posted
onto the session stream with `session_thread_id`.
"""

from __future__ import annotations

from typing import Any

from simulator.engine.agents import resolve_mcp_policy, resolve_policy
from simulator.engine.context import TurnContext, TurnEndedError
from simulator.engine.threads import SubagentWork
from simulator.engine.tools import tool_input, tool_output
from simulator.session import Pending

INTERRUPTED_TEXT = "Tool execution was interrupted before completion. Please retry."
DENIED_TEXT = "The user denied this tool call."
RESULT_TYPES = {
    "agent.tool_use": "agent.tool_result",
    "agent.mcp_tool_use": "agent.mcp_tool_result",
}
RESULT_KEYS = {"agent.tool_use": "tool_use_id", "agent.mcp_tool_use": "mcp_tool_use_id"}
KINDS = ("builtin", "mcp", "custom", "thread")


class ToolRound:
    """The tool uses after one model request, and waiting for whatever they need."""

    def __init__(self, turn: TurnContext) -> None:
        self.turn = turn
        self.session = turn.session
        self.subagent: SubagentWork | None = None

    async def run(self) -> None:
        self.turn.check_interrupt()
        uses = []
        for _ in range(self.turn.rng.randint(*self.turn.shape.tools_per_step)):
            kind = self.turn.rng.choices(KINDS, weights=self.turn.shape.action_weights)[0]
            uses.append(await self.use(kind))
        for use in uses:
            if use.get("evaluated_permission") in ("allow", "deny"):
                await self.turn.think(0.2)
                denied = use["evaluated_permission"] == "deny"
                await self.result(use, "Denied by the auto permission policy." if denied else None)
        blocking = [u for u in uses if u["type"] == "agent.custom_tool_use" or is_ask(u)]
        if blocking:
            await self.await_answers(blocking)
        if self.subagent is not None:
            await self.subagent.finish()

    async def use(self, kind: str) -> dict[str, Any]:
        rng = self.turn.rng
        if kind == "mcp":
            name = rng.choice(("create_issue", "list_pull_requests", "merge_pull_request"))
            permission, evaluation = self.evaluate(resolve_mcp_policy(self.session.agent))
            event: dict[str, Any] = {"type": "agent.mcp_tool_use", "mcp_server_name": "github"}
            event |= {"name": name}
            event |= {"input": {"repo": "example/project", "title": "Flaky test"}}
            event |= {"evaluated_permission": permission, "evaluation": evaluation}
            return await self.turn.emit(event)
        if kind == "custom":
            event = {"type": "agent.custom_tool_use", "name": "lookup_customer"}
            event |= {"input": {"customer_id": f"cus_{rng.randint(1000, 9999)}"}}
            return await self.turn.emit(event)
        if kind == "thread":
            self.subagent = self.subagent or await SubagentWork.start(self.turn)
            return await self.subagent.cross_posted_use()
        name = rng.choice(self.turn.shape.tool_names)
        permission, evaluation = self.evaluate(resolve_policy(self.session.agent, name))
        event = {"type": "agent.tool_use", "name": name, "input": tool_input(name, rng)}
        event |= {"evaluated_permission": permission, "evaluation": evaluation}
        return await self.turn.emit(event)

    def evaluate(self, policy: str) -> tuple[str, dict[str, Any]]:
        if policy == "always_ask":
            return "ask", {"type": "always_ask"}
        if policy == "auto":
            roll = self.turn.rng.random()
            judged: dict[str, str] = (
                {"type": "allow"}
                if roll < 0.6
                else {"type": "ask", "reason_code": "indeterminate"}
                if roll < 0.9
                else {"type": "deny", "reason_code": "high_risk"}
            )
            return judged["type"], {"type": "auto", "evaluated_permission": judged}
        return "allow", {"type": "always_allow"}

    async def result(self, use: dict[str, Any], error_text: str | None) -> None:
        """The tool's result, on the thread that ran it (a subagent's stays on its thread)."""
        if use["type"] == "agent.custom_tool_use":
            return
        text = error_text if error_text is not None else tool_output(use["name"], use["input"])
        event = {
            "type": RESULT_TYPES[use["type"]],
            RESULT_KEYS[use["type"]]: use["id"],
            "content": [{"type": "text", "text": text}],
            "is_error": error_text is not None,
        }
        if use.get("session_thread_id") and self.subagent is not None:
            await self.subagent.emit(event)
        else:
            await self.turn.emit(event)

    async def await_answers(self, blocking: list[dict[str, Any]]) -> None:
        """requires_action until every id is answered; partial answers re-emit idle."""
        for use in blocking:
            kind = "custom" if use["type"] == "agent.custom_tool_use" else "confirmation"
            self.session.pending[use["id"]] = Pending(kind, use)
        await self.turn.idle({"type": "requires_action", "event_ids": [u["id"] for u in blocking]})
        answers: dict[str, dict[str, Any]] = {}
        try:
            while len(answers) < len(blocking):
                event = await self.session.inbox.get_matching(self.is_answer)
                if event["type"] == "user.interrupt":
                    await self.abandon(blocking, answers, event)
                answers[answered_id(event)] = await self.settle(event)
                remainder = self.session.waiting_ids()
                if remainder and not self.session.inbox.any(self.is_answer):
                    await self.turn.idle({"type": "requires_action", "event_ids": remainder})
        finally:
            for use in blocking:
                self.session.pending.pop(use["id"], None)
        await self.turn.set_running()
        for use in blocking:
            await self.resume(use, answers[use["id"]])

    async def settle(self, event: dict[str, Any]) -> dict[str, Any]:
        if event["type"] == "user.tool_confirmation":
            return await self.turn.process(event)
        return event  # custom tool results were persisted when they arrived

    async def resume(self, use: dict[str, Any], answer: dict[str, Any]) -> None:
        if answer["type"] != "user.tool_confirmation":
            return
        if answer["result"] == "allow":
            await self.turn.think(0.2)
            await self.result(use, None)
        else:
            await self.result(use, answer.get("deny_message") or DENIED_TEXT)

    def is_answer(self, event: dict[str, Any]) -> bool:
        if event["type"] == "user.interrupt":
            return True
        answered = answered_id(event)
        return answered is not None and answered in self.session.pending

    async def abandon(
        self,
        blocking: list[dict[str, Any]],
        answers: dict[str, dict[str, Any]],
        interrupt: dict[str, Any],
    ) -> None:
        """An interrupt while blocked: persist it, close each open call with an error result."""
        await self.turn.process(interrupt)
        for use in blocking:
            if use["id"] not in answers:
                await self.result(use, INTERRUPTED_TEXT)
        if self.subagent is not None:
            await self.subagent.finish()
        raise TurnEndedError({"type": "end_turn"})


def is_ask(use: dict[str, Any]) -> bool:
    return use.get("evaluated_permission") == "ask"


def answered_id(event: dict[str, Any]) -> Any:
    if event["type"] == "user.tool_confirmation":
        return event.get("tool_use_id")
    if event["type"] == "user.custom_tool_result":
        return event.get("custom_tool_use_id")
    return None
