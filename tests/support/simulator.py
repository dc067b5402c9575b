"""The `simulator` fixture: a real simulator over real HTTP on a free loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import anthropic
import pytest

from simulator import Simulator, SimulatorConfig
from tests.support.waiting import until

# Fast enough that a whole coding turn takes tens of milliseconds, slow enough to stay ordered.
TEST_SPEED = 200.0


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A started `Simulator` (coding scenario, no sessions yet, any API key accepted)."""
    async with Simulator(SimulatorConfig(scenario="coding", seed=7, speed=TEST_SPEED)) as sim:
        yield sim


BETA_HEADERS = {"anthropic-beta": "managed-agents-2026-04-01", "x-api-key": "test-key"}


@pytest.fixture
async def sdk(simulator: Simulator) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """The official SDK pointed at the simulator, without retries (tests see every error)."""
    client = anthropic.AsyncAnthropic(
        api_key="test-key", base_url=simulator.base_url, max_retries=0
    )
    async with client:
        yield client


@pytest.fixture
async def http(simulator: Simulator) -> AsyncIterator[aiohttp.ClientSession]:
    """A raw HTTP client with the beta header and a key, for what the SDK hides (frames)."""
    async with aiohttp.ClientSession(base_url=simulator.base_url, headers=BETA_HEADERS) as client:
        yield client


def truth_types(simulator: Simulator, session_id: str) -> list[str]:
    return [row["type"] for row in simulator.ground_truth(session_id)]


async def wait_for_requires_action(simulator: Simulator, session_id: str) -> list[str]:
    """The pending event ids once the session's last persisted event asks for action."""
    session = simulator.session(session_id)

    def blocked() -> bool:
        events = session.log.events
        return bool(events) and b'"requires_action"' in events[-1].body

    await until(blocked)
    return session.waiting_ids()


class Frames:
    """Reads raw SSE frames (`event:` name, `data:` bytes) from an open stream response."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self._buffer = b""

    async def next(self, limit_secs: float = 20.0) -> tuple[str | None, bytes]:
        while b"\n\n" not in self._buffer:
            chunk = await asyncio.wait_for(self.response.content.readany(), limit_secs)
            if not chunk:
                raise EOFError("stream ended")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\n\n", 1)
        name, data = None, b""
        for line in raw.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
        return name, data

    async def until(
        self, wanted: Callable[[str | None, bytes], bool]
    ) -> list[tuple[str | None, bytes]]:
        """Frames up to and including the first one `wanted` accepts (within 20 s overall)."""
        seen = []
        deadline = asyncio.get_running_loop().time() + 20.0
        while True:
            frame = await self.next(
                limit_secs=max(0.01, deadline - asyncio.get_running_loop().time())
            )
            seen.append(frame)
            if wanted(*frame):
                return seen


ALLOW_ALL = {
    "type": "agent_toolset_20260401",
    "default_config": {"enabled": True, "permission_policy": {"type": "always_allow"}},
    "configs": [],
}


async def open_session(http: aiohttp.ClientSession, *, ask: bool = False) -> str:
    """Create a session over HTTP; its tools never ask unless `ask` (then the coding agent's)."""
    agent: object = "agent_01test"
    if not ask:
        agent = {"type": "agent_with_overrides", "id": "agent_01test", "tools": [ALLOW_ALL]}
    body = {"agent": agent, "environment_id": "env_01test"}
    async with http.post("/v1/sessions", json=body) as response:
        return str((await response.json())["id"])


async def answer_everything(
    simulator: Simulator, client: anthropic.AsyncAnthropic, session_id: str
) -> None:
    """A minimal approval bot over the SDK: allow every pending tool use, answer custom tools,
    until the session's simulated user is done and the session rests (idle or terminated)."""
    session = simulator.session(session_id)
    answered: set[str] = set()
    deadline = asyncio.get_running_loop().time() + 60
    while not (
        session.autopilot_done and session.status in ("idle", "terminated") and not session.pending
    ):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("session did not come to rest")
        pending = [i for i in session.waiting_ids() if i not in answered]
        if pending:
            page = await client.beta.sessions.events.list(session_id, limit=1000)
            kinds = {e.id: e.type for e in page.data}
            answers: list[Any] = [
                {"type": "user.custom_tool_result", "custom_tool_use_id": i, "content": []}
                if kinds[i] == "agent.custom_tool_use"
                else {"type": "user.tool_confirmation", "tool_use_id": i, "result": "allow"}
                for i in pending
            ]
            answered.update(pending)
            await client.beta.sessions.events.send(session_id, events=answers)
        await asyncio.sleep(0.005)
