"""Proof of fidelity: the official SDK drives the simulator, and every event it emits validates.

Each event is checked two ways: the SDK's stream/pager turns it into the specific typed class for
its `type` (never a fallback), and that class's pydantic model validates the raw JSON strictly.
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest
from anthropic.types.beta.sessions.beta_managed_agents_stream_session_events import (
    BetaManagedAgentsStreamSessionEvents,
)
from pydantic import BaseModel

from simulator import Simulator, SimulatorConfig
from tests.support.simulator import BETA_HEADERS


def classes_by_type() -> dict[str, type[BaseModel]]:
    union = typing.get_args(BetaManagedAgentsStreamSessionEvents)[0]
    found = {}
    for cls in typing.get_args(union):
        (literal,) = typing.get_args(cls.model_fields["type"].annotation)
        found[literal] = cls
    return found


CLASSES = classes_by_type()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = SimulatorConfig(scenario="mixed", seed=11, speed=400.0, user_turns=4)
    async with Simulator(config) as simulator:
        yield simulator


class Answerer:
    """Answers every pending id it sees: custom results, and alternating allow / deny."""

    def __init__(self, client: anthropic.AsyncAnthropic, session_id: str) -> None:
        self.client = client
        self.session_id = session_id
        self.seen: dict[str, Any] = {}
        self.answered: set[str] = set()

    async def on(self, event: Any) -> None:
        self.seen[getattr(event, "id", "")] = event
        if event.type != "session.status_idle" or event.stop_reason.type != "requires_action":
            return
        answers = [self.answer(i) for i in event.stop_reason.event_ids if i not in self.answered]
        self.answered.update(event.stop_reason.event_ids)
        if answers:
            await self.client.beta.sessions.events.send(self.session_id, events=answers)

    def answer(self, event_id: str) -> Any:
        if self.seen[event_id].type == "agent.custom_tool_use":
            content = [{"type": "text", "text": "customer: ACME"}]
            return {
                "type": "user.custom_tool_result",
                "custom_tool_use_id": event_id,
                "content": content,
            }
        if len(self.answered) % 2:
            return {"type": "user.tool_confirmation", "tool_use_id": event_id, "result": "allow"}
        return {
            "type": "user.tool_confirmation",
            "tool_use_id": event_id,
            "result": "deny",
            "deny_message": "not on a Friday",
        }


async def drive(sim: Simulator, client: anthropic.AsyncAnthropic, scenario: str) -> list[Any]:
    """Stream one session (with deltas) to its end, answering everything; the typed events."""
    session = await client.beta.sessions.create(agent="agent_01fidelity", environment_id="env_01x")
    answerer = Answerer(client, session.id)
    stream = await client.beta.sessions.events.stream(
        session.id, event_deltas=["agent.message", "agent.thinking"]
    )
    typed: list[Any] = []
    prompts = 0
    async with stream:
        await send_prompt(client, session.id)
        async for event in stream:
            typed.append(event)
            await answerer.on(event)
            if event.type == "session.status_idle" and event.stop_reason.type != "requires_action":
                prompts += 1
                if prompts >= 4:
                    break
                await send_prompt(client, session.id)
            if event.type == "session.status_terminated":
                break
    return typed


async def send_prompt(client: anthropic.AsyncAnthropic, session_id: str) -> None:
    content = [{"type": "text", "text": "Fix the flaky test."}]
    await client.beta.sessions.events.send(
        session_id, events=[{"type": "user.message", "content": content}]
    )


async def raw_history(sim: Simulator, session_id: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession(sim.base_url, headers=BETA_HEADERS) as http,
        http.get(f"/v1/sessions/{session_id}/events?limit=1000") as response,
    ):
        return list(orjson.loads(await response.read())["data"])


async def test_every_streamed_event_is_its_specific_sdk_class(sim: Simulator) -> None:
    """Across mixed and chaos sessions, the SDK maps every event to the class for its type."""
    async with anthropic.AsyncAnthropic(
        api_key="k", base_url=sim.base_url, max_retries=0
    ) as client:
        typed = [event for _ in range(3) for event in await drive(sim, client, "mixed")]

    mismatched = [
        (event.type, type(event).__name__)
        for event in typed
        if CLASSES.get(event.type) is not type(event)
    ]
    assert ([], True) == (mismatched, len({e.type for e in typed}) > 15)


async def test_every_persisted_event_validates_strictly(sim: Simulator) -> None:
    """Every history item of several scenarios validates against its SDK model (no unknowns)."""
    ids = [await sim.create_session(scenario=name) for name in ("mixed", "chaos", "coding") * 3]
    await asyncio.sleep(0)
    async with anthropic.AsyncAnthropic(
        api_key="k", base_url=sim.base_url, max_retries=0
    ) as client:
        for session_id in ids:
            await answer_until_quiet(sim, client, session_id)

    failures = []
    for session_id in ids:
        for raw in await raw_history(sim, session_id):
            cls = CLASSES.get(raw["type"])
            try:
                assert cls is not None, raw["type"]
                cls.model_validate(raw)
            except (AssertionError, ValueError) as exc:
                failures.append((raw["type"], str(exc)[:200]))
    assert [] == failures


async def answer_until_quiet(
    sim: Simulator, client: anthropic.AsyncAnthropic, session_id: str
) -> None:
    """Answer the session's approvals through the SDK until its autopilot is done."""
    answerer = Answerer(client, session_id)
    session = sim.session(session_id)
    for _ in range(6000):
        pending = [i for i in session.waiting_ids() if i not in answerer.answered]
        if pending:
            page = await client.beta.sessions.events.list(session_id, limit=1000)
            for event in page.data:
                answerer.seen[event.id] = event
            answers = [answerer.answer(i) for i in pending]
            answerer.answered.update(pending)
            await client.beta.sessions.events.send(session_id, events=answers)
        if session.autopilot_done and session.status in ("idle", "terminated"):
            return
        await asyncio.sleep(0.01)
