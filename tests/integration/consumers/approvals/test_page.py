"""The approver page in a real browser (Debian's chromium), against the real bot, real Kafka and
the simulator over HTTP: escalations appear live, decisions reach the simulator's session, input
is shown as text, the keyboard works, someone else's decision is shown.

`APPROVALS_PAGE_SCREENSHOT=docs/approvals-inbox.png` makes the keyboard test save the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from consumers.approvals.policy import Policy
from simulator import Simulator, SimulatorConfig
from tests.support.approvals import (
    BETA,
    Bot,
    Loop,
    answers,
    create_topic,
    gated,
    history,
    loop_kafka,
    streamer,
)
from tests.support.browser import LAPTOP, PHONE, Browser, open_browser

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ASK_ALL = 'version = 1\ndefault = "ask"\n'
TOKENS = "alice:alice-token-1234,bob:bob-token-5678"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator serving `coding` sessions quickly (each waits on its first tool approval)."""
    config = SimulatorConfig(scenario="coding", sessions=0, seed=11, speed=200.0)
    async with Simulator(config) as sim:
        yield sim


@pytest.fixture
async def phone() -> AsyncIterator[Browser]:
    """A phone-sized headless chromium."""
    async for browser in open_browser(PHONE):
        yield browser


@pytest.fixture
async def laptop() -> AsyncIterator[Browser]:
    """A laptop-sized headless chromium."""
    async for browser in open_browser(LAPTOP):
        yield browser


async def new_loop(simulator: Simulator, kafka_bootstrap: str) -> Loop:
    """A loop on fresh topics (the events topic made first, so the bot is assigned it at once)."""
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(ASK_ALL))
    await create_topic(loop.kafka, loop.kafka.events_topic, 2)
    return loop


async def sign_in(browser: Browser, bot: Bot, token: str) -> None:
    """Open the page, which asks for a token, and sign in with it."""
    await browser.get(f"{bot.url}/ui")
    field = await browser.one("#token")
    await browser.call(field.send_keys, token)
    await browser.call((await browser.one(".login button")).click)
    await browser.one("#items")


def card_ids(driver: WebDriver) -> list[str]:
    """The ids of the inbox's open cards, top to bottom."""
    cards = driver.find_elements(By.CSS_SELECTOR, "#items .item:not(.done)")
    return [str(c.get_attribute("data-id")) for c in cards]


async def pending_ids(simulator: Simulator, sessions: list[str]) -> list[str]:
    """Tool uses the simulator's sessions wait on (asked, not yet confirmed), oldest first."""
    found = []
    for session in sessions:
        events = await history(simulator.base_url, session)
        confirmed = answers(events)
        found += [e["id"] for e in gated(events) if e["id"] not in confirmed]
    return found


async def until_answered(simulator: Simulator, session: str, tool_use_id: str) -> Any:
    """The (result, deny_message) the session received for `tool_use_id`."""
    async with asyncio.timeout(45):
        while True:
            got = answers(await history(simulator.base_url, session)).get(tool_use_id)
            if got is not None:
                return got
            await asyncio.sleep(0.1)


async def entry(bot: Bot, tool_use_id: str) -> dict[str, Any]:
    """The bot's entry for a tool use (its JSON API, with bob's token)."""
    headers = {"Authorization": "Bearer bob-token-5678"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.get(f"{bot.url}/approvals/{tool_use_id}") as response,
    ):
        body: dict[str, Any] = await response.json()
        return body


async def set_title(simulator: Simulator, session: str, title: str) -> None:
    """Give a session a title through the API."""
    async with (
        aiohttp.ClientSession(base_url=simulator.base_url, headers=BETA) as http,
        http.post(f"/v1/sessions/{session}", json={"title": title}) as response,
    ):
        assert response.status == 200, await response.text()


def selected(driver: WebDriver) -> str:
    """The id of the selected card."""
    card = driver.find_element(By.CSS_SELECTOR, "#items .item.selected")
    return str(card.get_attribute("data-id"))


def status_of(tool_use_id: str) -> Any:
    """A wait condition: the card's status line, once it has one."""

    def read(driver: WebDriver) -> str:
        cards = driver.find_elements(By.CSS_SELECTOR, f"#item-{tool_use_id} .status")
        return cards[0].text if cards else ""

    return read


async def test_tool_uses_appear_live_and_taps_allow_and_deny_with_a_reason(
    simulator: Simulator, kafka_bootstrap: str, phone: Browser
) -> None:
    """On a phone-sized page opened before anything waits, escalations appear without a reload;
    a tap on Allow sends one session an `allow`, Deny then a canned reason sends the other a
    deny with that reason; both decided by the signed-in reviewer."""
    sessions = [await simulator.create_session(metadata={"team": "web"}) for _ in range(2)]
    loop = await new_loop(simulator, kafka_bootstrap)
    bot = await loop.start_bot(reviewer_tokens=TOKENS)
    try:
        await sign_in(phone, bot, "alice-token-1234")
        empty = await phone.call(lambda: phone.driver.find_element(By.ID, "empty").is_displayed())
        async with streamer(simulator.base_url, loop.kafka, sessions):
            ids = await phone.until(lambda d: card_ids(d) if len(card_ids(d)) >= 2 else None)
            first, second = ids[0], ids[1]
            overflow = await phone.script(
                "const e = document.documentElement; return e.scrollWidth - e.clientWidth"
            )
            chips = await phone.call(
                lambda: phone.driver.find_element(By.CSS_SELECTOR, f"#item-{first} .session").text
            )
            await phone.call((await phone.one(f"#item-{first} button.allow")).click)
            await phone.call((await phone.one(f"#item-{second} button.deny")).click)
            reason = await phone.one(f"#item-{second} .reasons button")
            reason_text = await phone.call(lambda: reason.text)
            await phone.call(reason.click)
            allowed, denied = await entry(bot, first), await entry(bot, second)
            allow = await until_answered(simulator, allowed["session_id"], first)
            deny = await until_answered(simulator, denied["session_id"], second)
            stored = [(await entry(bot, i))["decided_by"] for i in (first, second)]
    finally:
        await loop.stop_bots()
    assert (True, 0) == (empty, overflow)
    assert "team=web" in chips
    assert ("allow", None) == allow
    assert ("deny", reason_text) == deny
    assert ["human:alice", "human:alice"] == stored


async def test_keyboard_moves_denies_with_a_message_and_allows(
    simulator: Simulator, kafka_bootstrap: str, laptop: Browser
) -> None:
    """j/k move the selection; d opens the deny message, Enter sends it (the session receives
    deny + that message); a allows the next one."""
    sessions = [await simulator.create_session(metadata={"team": team, "repo": "shop"})
                for team in ("web", "payments", "infra")]  # fmt: skip
    for session, title in zip(sessions, ("Fix checkout bug", "Rotate API keys", "Bump CI image"),
                              strict=True):  # fmt: skip
        await set_title(simulator, session, title)
    loop = await new_loop(simulator, kafka_bootstrap)
    bot = await loop.start_bot(reviewer_tokens=TOKENS)
    try:
        async with streamer(simulator.base_url, loop.kafka, sessions):
            await sign_in(laptop, bot, "alice-token-1234")
            ids = await laptop.until(lambda d: card_ids(d) if len(card_ids(d)) >= 3 else None)
            moves = []
            for key in "jjk":
                await laptop.keys(key)
                moves.append(await laptop.call(selected, laptop.driver))
            await laptop.keys("d")
            message = "Use the staging bucket instead."
            await laptop.keys(message)
            shot = os.environ.get("APPROVALS_PAGE_SCREENSHOT")
            if shot:
                await laptop.screenshot(Path(shot))
            await laptop.keys("\n")
            await laptop.until(lambda d: selected(d) not in (ids[1], ""))
            then = await laptop.call(selected, laptop.driver)
            await laptop.keys("a")
            denied, allowed = (await entry(bot, ids[1])), (await entry(bot, ids[2]))
            deny = await until_answered(simulator, denied["session_id"], ids[1])
            allow = await until_answered(simulator, allowed["session_id"], ids[2])
            first = await entry(bot, ids[0])
    finally:
        await loop.stop_bots()
    assert [ids[1], ids[2], ids[1]] == moves
    assert ids[2] == then
    assert ("deny", message) == deny
    assert ("allow", None) == allow
    assert "escalated" == first["status"]


HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


async def test_html_in_a_tool_input_is_shown_as_text(
    simulator: Simulator, kafka_bootstrap: str, laptop: Browser
) -> None:
    """A command, a session title and metadata made of HTML are shown character for character,
    and none of it becomes an element or runs."""
    session = await simulator.create_session(metadata={"note": '<b onmouseover="x()">hi</b>'})
    await set_title(simulator, session, "<i>title</i><script>window.__pwned = 3</script>")
    loop = await new_loop(simulator, kafka_bootstrap)
    bot = await loop.start_bot(reviewer_tokens=TOKENS)
    try:
        async with streamer(simulator.base_url, loop.kafka, [session]):
            await sign_in(laptop, bot, "alice-token-1234")
            injected = simulator.inject(session, {
                "type": "agent.tool_use", "name": "bash", "evaluated_permission": "ask",
                "input": {"command": HOSTILE},
            })  # fmt: skip
            card = f"#item-{injected['id']}"
            command = await laptop.call((await laptop.one(f"{card} pre.shell code")).get_attribute,
                                        "textContent")  # fmt: skip
            title = await laptop.call((await laptop.one(f"{card} .title")).get_attribute,
                                      "textContent")  # fmt: skip
            chips = await laptop.call((await laptop.one(f"{card} .session")).get_attribute,
                                      "textContent")  # fmt: skip
            elements = await laptop.all(f"{card} script, {card} img, {card} b, {card} i")
            pwned = await laptop.script("return window.__pwned === undefined ? null : 1")
    finally:
        await loop.stop_bots()
    assert HOSTILE == command
    assert "<i>title</i><script>window.__pwned = 3</script>" == title
    assert 'note=<b onmouseover="x()">hi</b>' in chips
    assert ([], None) == (elements, pwned)


async def test_a_decision_made_elsewhere_shows_who_made_it_and_is_in_the_history(
    simulator: Simulator, kafka_bootstrap: str, laptop: Browser
) -> None:
    """While alice looks at an escalation, bob decides it through the API: her card says
    "Already decided by human:bob" and can no longer be decided; the history lists bob's allow
    and filters it by session and decision."""
    session = await simulator.create_session()
    loop = await new_loop(simulator, kafka_bootstrap)
    bot = await loop.start_bot(reviewer_tokens=TOKENS)
    try:
        async with streamer(simulator.base_url, loop.kafka, [session]):
            await sign_in(laptop, bot, "alice-token-1234")
            [first, *_] = await laptop.until(card_ids)
            headers = {"Authorization": "Bearer bob-token-5678"}
            async with (
                aiohttp.ClientSession(headers=headers) as http,
                http.post(f"{bot.url}/approvals/{first}/decision",
                          json={"decision": "allow", "by": "mallory"}) as response,
            ):  # fmt: skip
                assert 202 == response.status
            shown = await laptop.until(status_of(first))
            enabled = await laptop.call(
                (await laptop.one(f"#item-{first} button.allow")).is_enabled
            )
            await until_answered(simulator, session, first)
            await laptop.call((await laptop.one("#tab-history")).click)
            rows = await laptop.until(history_rows(session, "allow"))
            await laptop.call((await laptop.one("#history-filter select")).send_keys, "deny")
            await laptop.call((await laptop.one("#history-filter button")).click)
            after_filter = await laptop.until(no_rows)
    finally:
        await loop.stop_bots()
    assert ("Already decided by human:bob", False) == (shown, enabled)
    assert any("human:bob" in row and "answered" in row for row in rows)
    assert after_filter


def history_rows(session: str, decision: str) -> Any:
    """A wait condition: filter the history, return its rows' texts once one is bob's answer."""

    def read(driver: WebDriver) -> list[str] | None:
        field = driver.find_element(By.CSS_SELECTOR, "#history-filter input")
        field.clear()
        field.send_keys(session)
        driver.find_element(By.CSS_SELECTOR, "#history-filter select").send_keys(decision)
        driver.find_element(By.CSS_SELECTOR, "#history-filter button").click()
        rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#history-rows tr")]
        return rows if any("answered" in row for row in rows) else None

    return read


def no_rows(driver: WebDriver) -> bool:
    """The history table is empty (no deny in this test)."""
    return not driver.find_elements(By.CSS_SELECTOR, "#history-rows tr")


async def test_a_forged_form_from_another_origin_decides_nothing(
    simulator: Simulator, kafka_bootstrap: str, laptop: Browser
) -> None:
    """A page on another port of the same host (same site: the `SameSite` cookie goes along)
    posts a decision as a form when alice opens it: refused (403, no CSRF token, foreign
    `Origin`), and the escalation still waits."""
    session = await simulator.create_session()
    loop = await new_loop(simulator, kafka_bootstrap)
    bot = await loop.start_bot(reviewer_tokens=TOKENS)
    try:
        async with streamer(simulator.base_url, loop.kafka, [session]):
            await sign_in(laptop, bot, "alice-token-1234")
            [first, *_] = await laptop.until(card_ids)
            async with evil_site(f"{bot.url}/ui/api/decide/{first}") as evil_url:
                await laptop.get(evil_url)
                shown = await laptop.until(lambda d: "error" in d.page_source and d.page_source)
            stored = await entry(bot, first)
    finally:
        await loop.stop_bots()
    assert "missing or wrong CSRF token" in shown
    assert "escalated" == stored["status"]


@contextlib.asynccontextmanager
async def evil_site(target: str) -> AsyncIterator[str]:
    """A page elsewhere that submits a decision to `target` as soon as it loads."""
    page = f"""<form method="post" action="{target}" enctype="text/plain">
<input name='{{"decision": "allow", "message": "' value='"}}'></form>
<script>document.forms[0].submit()</script>"""

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.add_routes([web.get("/", serve)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()
