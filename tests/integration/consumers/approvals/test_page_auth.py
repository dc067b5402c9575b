"""Who may decide, over real HTTP against the real bot: the page's login, CSRF and Origin checks,
the proxy's identity header, the approver allowlist and the security headers.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from consumers.approvals.policy import Policy
from simulator import Simulator, SimulatorConfig
from tests.support.approvals import Bot, Loop, create_topic, loop_kafka, streamer

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ASK_ALL = 'version = 1\ndefault = "ask"\n'
TOKENS = "alice:alice-token-1234,bob:bob-token-5678"
PROXY = "X-Forwarded-User"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator serving `coding` sessions quickly."""
    config = SimulatorConfig(scenario="coding", sessions=0, seed=13, speed=200.0)
    async with Simulator(config) as sim:
        yield sim


def tool_use(command: str) -> dict[str, Any]:
    """A gated bash tool use to inject (the bot escalates it; answering it is refused later)."""
    return {"type": "agent.tool_use", "name": "bash", "evaluated_permission": "ask",
            "input": {"command": command}}  # fmt: skip


async def escalated(bot: Bot, count: int) -> list[str]:
    """The ids of at least `count` escalations, oldest first."""
    headers = {"Authorization": "Bearer bob-token-5678"}

    async def read() -> list[str]:
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.get(f"{bot.url}/approvals") as response,
        ):
            return [e["tool_use_id"] for e in (await response.json())["data"]]

    ids: list[str] = []
    for _ in range(600):
        ids = await read()
        if len(ids) >= count:
            break
        await asyncio.sleep(0.1)
    return ids


async def test_page_decisions_need_a_reviewer_csrf_and_this_origin(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """Without a login: 401. Logged in but without the CSRF token, or from another origin: 403.
    With both: 202, decided by the signed-in reviewer whatever the body says; a second decision
    is told who was first (409)."""
    session = await simulator.create_session()
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(ASK_ALL))
    await create_topic(loop.kafka, loop.kafka.events_topic, 2)
    async with streamer(simulator.base_url, loop.kafka, [session]):
        bot = await loop.start_bot(reviewer_tokens=TOKENS)
        try:
            simulator.inject(session, tool_use("echo one"))
            [first, second, *_] = await escalated(bot, 2)
            statuses, bodies = await _page_requests(bot.url, first, second)
        finally:
            await loop.stop_bots()
    assert [401, 401, 303, 200, 403, 403, 403, 202, 409] == statuses
    assert "human:alice" == bodies[-2]["decided_by"]
    assert "human:alice" == bodies[-1]["error"]["decided_by"]


async def _page_requests(url: str, first: str, second: str) -> tuple[list[int], list[Any]]:
    statuses: list[int] = []
    bodies: list[Any] = []
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies for 127.0.0.1
    origin = {"Origin": url}
    body = {"decision": "allow", "by": "mallory", "message": ""}
    async with aiohttp.ClientSession(base_url=url, cookie_jar=jar) as http:

        async def call(method: str, path: str, **kwargs: Any) -> str:
            async with http.request(method, path, allow_redirects=False, **kwargs) as response:
                statuses.append(response.status)
                text = await response.text()
                if response.content_type == "application/json":
                    bodies.append(await response.json())
                return text

        await call("GET", "/ui")  # the login form
        await call("POST", f"/ui/api/decide/{first}", json=body, headers=origin)
        await call("POST", "/ui/login", data={"token": "alice-token-1234"}, headers=origin)
        page = await call("GET", "/ui")
        match = re.search(r'name="csrf-token" content="([^"]+)"', page)
        csrf = {"X-CSRF-Token": match.group(1) if match else ""}
        await call("POST", f"/ui/api/decide/{first}", json=body, headers=origin)  # no token
        await call("POST", f"/ui/api/decide/{first}", json=body,
                   headers=csrf | {"Origin": "http://evil.example"})  # fmt: skip
        await call("POST", f"/ui/api/decide/{first}", json=body, headers=csrf)  # no Origin
        await call("POST", f"/ui/api/decide/{first}", json=body, headers=csrf | origin)
        await call("POST", f"/ui/api/decide/{first}", json=body, headers=csrf | origin)
    return statuses, bodies


async def test_the_proxy_header_names_the_person_and_the_allowlist_holds(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """From a trusted proxy, `X-Forwarded-User` is who decides (`by` in the body is ignored);
    someone not on the approver list is refused (403); a cross-site request through the proxy
    is refused (403)."""
    session = await simulator.create_session()
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(ASK_ALL))
    await create_topic(loop.kafka, loop.kafka.events_topic, 2)
    async with streamer(simulator.base_url, loop.kafka, [session]):
        bot = await loop.start_bot(identity_header=PROXY, approvers="carol",
                                   reviewer_tokens=TOKENS)  # fmt: skip
        try:
            simulator.inject(session, tool_use("echo one"))
            [first, *_] = await escalated(bot, 2)
            statuses = []
            body = {"decision": "deny", "by": "mallory", "message": "no"}
            async with aiohttp.ClientSession(base_url=bot.url) as http:
                for headers in ({PROXY: "dave"}, {PROXY: "carol", "Origin": "http://evil.example"},
                                {PROXY: "carol"}):  # fmt: skip
                    path = f"/approvals/{first}/decision"
                    async with http.post(path, json=body, headers=headers) as response:
                        statuses.append(response.status)
                async with http.get(f"/approvals/{first}", headers={PROXY: "carol"}) as response:
                    decided = await response.json()
        finally:
            await loop.stop_bots()
    assert [403, 403, 202] == statuses
    assert ("human:carol", "no") == (decided["decided_by"], decided["reason"])


async def test_untrusted_proxy_headers_and_anonymous_requests_are_refused(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """With a proxy header configured, the header from an address that is not a trusted proxy
    authenticates nobody (401), on the page and the API; the page's responses carry the strict
    CSP, nosniff, frame-ancestors and referrer headers."""
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(ASK_ALL))
    bot = await loop.start_bot(identity_header=PROXY, trusted_proxies="10.0.0.0/8")
    try:
        statuses = []
        async with aiohttp.ClientSession(base_url=bot.url, headers={PROXY: "carol"}) as http:
            for method, path in (("GET", "/ui"), ("GET", "/ui/api/stream"),
                                 ("POST", "/approvals/sevt_x/decision"),
                                 ("POST", "/ui/api/decide/sevt_x")):  # fmt: skip
                async with http.request(method, path, json={"decision": "allow"}) as response:
                    statuses.append(response.status)
                    if path == "/ui":
                        headers = dict(response.headers)
            async with http.get("/ui/static/app.js") as response:
                script = (response.status, response.content_type)
    finally:
        await loop.stop_bots()
    assert [401, 401, 401, 401] == statuses
    assert (200, "text/javascript") == script
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert ("nosniff", "same-origin") == (
        headers["X-Content-Type-Options"], headers["Referrer-Policy"]
    )  # fmt: skip
