"""People's side for real: the notification webhook and the HTTP API's answers to bad requests."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from consumers.approvals.policy import Policy
from simulator import Simulator, SimulatorConfig
from tests.support.approvals import Loop, loop_kafka, streamer
from tests.support.waiting import until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ASK_ALL = 'version = 1\ndefault = "ask"\n'


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator serving `coding` sessions quickly."""
    async with Simulator(
        SimulatorConfig(scenario="coding", sessions=0, seed=5, speed=200.0)
    ) as sim:
        yield sim


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP receiver on loopback that keeps the JSON bodies it is sent."""
    received: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.post("/hook", receive)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


async def test_escalation_notifies_and_the_api_refuses_bad_decisions(
    simulator: Simulator, kafka_bootstrap: str, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    """A new escalation is POSTed Slack-style to the webhook; the decision endpoint answers 404
    for an unknown id, 400 for a bad body, 202 for a decision and 409 for a second one."""
    hook_url, received = webhook
    session = await simulator.create_session()
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(ASK_ALL))
    async with streamer(simulator.base_url, loop.kafka, [session]):
        bot = await loop.start_bot(webhook_url=hook_url)
        try:
            await until(lambda: received)
            async with aiohttp.ClientSession(base_url=bot.url) as http:
                async with http.get("/approvals") as response:
                    tool_use_id = (await response.json())["data"][0]["tool_use_id"]
                decision = f"/approvals/{tool_use_id}/decision"
                statuses = []
                for path, body in [
                    ("/approvals/sevt_unknown/decision", {"decision": "allow", "by": "a"}),
                    (decision, {"decision": "maybe", "by": "a"}),
                    (decision, {"decision": "allow"}),
                    (decision, {"decision": "deny", "by": "a", "reason": "no"}),
                    (decision, {"decision": "allow", "by": "b"}),
                ]:
                    async with http.post(path, json=body) as response:
                        statuses.append(response.status)
        finally:
            await loop.stop_bots()
    assert ([404, 400, 400, 202, 409], True, True) == (
        statuses, any(tool_use_id in r["text"] for r in received),
        all(r["blocks"][0]["type"] == "section" for r in received),
    )  # fmt: skip


async def _cli(url: str, env: dict[str, str]) -> tuple[int, Any]:
    """`streamer approvals --url URL list` as a real process with `env`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer", "approvals", "--url", url, "list",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, _err = await process.communicate()
    return int(process.returncode or 0), orjson.loads(out)


async def test_with_a_token_every_request_needs_it(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """With `APPROVALS_HTTP_TOKEN` set, a request without the bearer token, or with another one,
    gets 401 before anything is looked up; the CLI sends the token from the same variable."""
    token = "s3cret-approvals-token"
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(ASK_ALL))
    bot = await loop.start_bot(http_token=token)
    try:
        statuses = []
        async with aiohttp.ClientSession(base_url=bot.url) as http:
            for method, path, headers in [
                ("GET", "/approvals", {}),
                ("GET", "/approvals", {"Authorization": "Bearer wrong"}),
                ("GET", "/approvals", {"Authorization": f"Basic {token}"}),
                ("POST", "/approvals/sevt_unknown/decision", {}),
                ("GET", "/approvals", {"Authorization": f"Bearer {token}"}),
                ("POST", "/approvals/sevt_unknown/decision", {"Authorization": f"Bearer {token}"}),
            ]:
                body = {"decision": "allow", "by": "a"}
                async with http.request(method, path, headers=headers, json=body) as response:
                    statuses.append(response.status)
        env = {k: v for k, v in os.environ.items() if k != "APPROVALS_HTTP_TOKEN"}
        without = await _cli(bot.url, env)
        with_token = await _cli(bot.url, env | {"APPROVALS_HTTP_TOKEN": token})
    finally:
        await loop.stop_bots()
    assert [401, 401, 401, 401, 200, 404] == statuses
    assert (1, "a valid bearer token is required") == (without[0], without[1]["error"]["message"])
    assert (0, []) == (with_token[0], with_token[1]["data"])
