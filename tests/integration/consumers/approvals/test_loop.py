"""The whole approval loop for real: simulator `coding` sessions -> streamer -> Kafka -> bot ->
the simulator's API. Ground truth is the session's own history, read through the API.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from consumers.approvals.policy import Policy
from simulator import Simulator, SimulatorConfig
from tests.support.approvals import (
    BETA,
    Loop,
    answers,
    confirmations,
    create_topic,
    gated,
    history,
    loop_kafka,
    streamer,
)
from tests.support.waiting import settled

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[4]
MIXED = """
version = 1
default = "ask"
[[allow]]
rule = "bash"
[[deny]]
rule = "write"
reason = "No writes in this test."
"""
ALLOW_ALL = """
version = 1
allow = ["bash", "read", "write", "edit", "glob", "grep", "web_fetch", "web_search"]
"""
ASK_ALL = """
version = 1
default = "ask"
"""


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator serving `coding` sessions quickly."""
    config = SimulatorConfig(scenario="coding", sessions=0, seed=7, speed=200.0)
    async with Simulator(config) as sim:
        yield sim


async def sessions(sim: Simulator, count: int) -> list[str]:
    return [await sim.create_session(scenario="coding") for _ in range(count)]


async def all_history(sim: Simulator, ids: list[str]) -> list[dict[str, Any]]:
    return [event for sid in ids for event in await history(sim.base_url, sid)]


async def listed(url: str, status: str = "escalated") -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/approvals?status={status}") as r:
        return list((await r.json())["data"])


async def cli(*args: str) -> tuple[int, Any]:
    """Run `streamer approvals ...` as a real process; (exit code, parsed JSON output)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer", "approvals", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, _err = await process.communicate()
    return int(process.returncode or 0), orjson.loads(out)


def every_gated_answered(events: list[dict[str, Any]]) -> bool:
    counts = confirmations(events)
    uses = gated(events)
    return bool(uses) and all(counts[use["id"]] >= 1 for use in uses)


async def test_policy_allows_denies_and_escalates(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """bash is allowed, write denied with the rule's reason, the rest waits for a person."""
    ids = await sessions(simulator, 4)
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(MIXED))
    async with streamer(simulator.base_url, loop.kafka, ids):
        bot = await loop.start_bot()
        try:

            async def outcome() -> dict[str, Any]:
                events = await all_history(simulator, ids)
                escalated = {e["tool_use_id"] for e in await listed(bot.url)}
                given = answers(events)
                return {use["id"]: given.get(use["id"], "escalated" if use["id"] in escalated
                                             else None) for use in gated(events)}  # fmt: skip

            actual = await settled(
                outcome,
                done=lambda o: bool(o) and None not in o.values(),
                timeout_secs=90,
                interval_secs=0.2,
            )
            events = await all_history(simulator, ids)
        finally:
            await loop.stop_bots()
    expected = {use["id"]: {"bash": ("allow", None), "write": ("deny", "No writes in this test.")}
                .get(use["name"], "escalated") for use in gated(events)}  # fmt: skip
    assert expected == actual
    assert {1} == set(confirmations(events).values())


async def test_a_human_decision_through_the_cli_reaches_the_session(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """`streamer approvals list` shows the escalation; `allow` makes the session get an allow."""
    ids = await sessions(simulator, 1)
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(ASK_ALL))
    async with streamer(simulator.base_url, loop.kafka, ids):
        bot = await loop.start_bot()
        try:
            pending = await settled(
                lambda: listed(bot.url), done=bool, timeout_secs=90, interval_secs=0.2
            )
            _code, shown = await cli("--url", bot.url, "list")
            first = shown["data"][0]["tool_use_id"]
            code, decided = await cli("--url", bot.url, "allow", first, "--by", "alice",
                                      "--reason", "looked at it")  # fmt: skip

            async def answer() -> Any:
                return answers(await history(simulator.base_url, ids[0])).get(first)

            answered = await settled(
                answer, done=lambda a: a is not None, timeout_secs=90, interval_secs=0.2
            )
            _code, after = await cli("--url", bot.url, "show", first)
        finally:
            await loop.stop_bots()
    assert (
        [e["tool_use_id"] for e in pending], 0, "decided", ("allow", None), "answered",
        "human:alice", "looked at it",
    ) == (
        [e["tool_use_id"] for e in shown["data"]], code, decided["status"], answered,
        after["status"], after["decided_by"], after["decided_note"],
    )  # fmt: skip


async def test_timeout_denies_with_the_configured_message(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """An escalation nobody decides is denied with the timeout message once it expires."""
    ids = await sessions(simulator, 1)
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(ASK_ALL))
    async with streamer(simulator.base_url, loop.kafka, ids):
        await loop.start_bot(escalation_timeout_secs=0.5, timeout_message="Too late.")
        try:

            async def first_answers() -> dict[str, Any]:
                return answers(await history(simulator.base_url, ids[0]))

            given = await settled(first_answers, done=bool, timeout_secs=90, interval_secs=0.2)
        finally:
            await loop.stop_bots()
    assert {("deny", "Too late.")} == set(given.values())


async def interrupt(base_url: str, session_id: str) -> None:
    """Send the session a `user.interrupt` through the API."""
    body = {"events": [{"type": "user.interrupt"}]}
    path = f"/v1/sessions/{session_id}/events"
    async with (
        aiohttp.ClientSession(base_url=base_url, headers=BETA) as http,
        http.post(path, json=body) as response,
    ):
        assert response.status == 200, await response.text()


async def late_allow(url: str, tool_use_id: str) -> int:
    """A reviewer's allow through the bot's HTTP API; its status code."""
    body = {"decision": "allow", "by": "carol"}
    path = f"{url}/approvals/{tool_use_id}/decision"
    async with aiohttp.ClientSession() as http, http.post(path, json=body) as response:
        return response.status


async def test_an_escalation_the_session_no_longer_waits_for_is_withdrawn(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """Interrupted while it waits for a person, the session ends the turn (`end_turn`, not
    `requires_action`): its escalations are withdrawn, and a late reviewer cannot answer them."""
    ids = await sessions(simulator, 1)
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(ASK_ALL))
    async with streamer(simulator.base_url, loop.kafka, ids):
        bot = await loop.start_bot()
        try:
            pending = await settled(
                lambda: listed(bot.url), done=bool, timeout_secs=90, interval_secs=0.2
            )
            pending_ids = sorted(e["tool_use_id"] for e in pending)
            await interrupt(simulator.base_url, ids[0])

            async def withdrawn_ids() -> list[str]:
                return sorted(e["tool_use_id"] for e in await listed(bot.url, "withdrawn"))

            withdrawn = await settled(
                withdrawn_ids,
                done=lambda w: set(pending_ids) <= set(w),
                timeout_secs=90,
                interval_secs=0.2,
            )
            late = [await late_allow(bot.url, i) for i in pending_ids]
            given = answers(await history(simulator.base_url, ids[0]))
        finally:
            await loop.stop_bots()
    assert (pending_ids, [409] * len(pending_ids), set()) == (
        [i for i in withdrawn if i in pending_ids],
        late,
        set(pending_ids) & set(given),
    )


async def test_two_replicas_never_double_answer(simulator: Simulator, kafka_bootstrap: str) -> None:
    """Replicas joining and leaving the group mid-run answer every tool use exactly once (what
    the policy does not allow is denied by the escalation timeout, on whichever replica)."""
    ids = await sessions(simulator, 8)
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(ALLOW_ALL))
    await create_topic(loop.kafka, loop.kafka.events_topic, 4)
    async with streamer(simulator.base_url, loop.kafka, ids):
        first = await loop.start_bot(escalation_timeout_secs=1.0)
        await settled(
            lambda: all_history(simulator, ids),
            done=lambda e: len(confirmations(e)) >= 3,
            timeout_secs=90,
            interval_secs=0.2,
        )
        await loop.start_bot(escalation_timeout_secs=1.0)
        await settled(
            lambda: all_history(simulator, ids),
            done=lambda e: len(confirmations(e)) >= 8,
            timeout_secs=90,
            interval_secs=0.2,
        )
        loop.bots.remove(first)
        await first.stop()
        try:
            events = await settled(
                lambda: all_history(simulator, ids),
                done=every_gated_answered,
                timeout_secs=90,
                interval_secs=0.2,
            )
        finally:
            await loop.stop_bots()
    assert {1} == set(confirmations(events).values())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_bot_process(
    loop: Loop, policy: Path, port: int, log: Path
) -> asyncio.subprocess.Process:
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": loop.kafka.bootstrap_servers,
        "KAFKA_EVENTS_TOPIC": loop.kafka.events_topic,
        "KAFKA_APPROVALS_TOPIC": loop.kafka.approvals_topic,
        "KAFKA_DEAD_LETTER_TOPIC": loop.kafka.dead_letter_topic,
        "ANTHROPIC_BASE_URL": loop.base_url,
        "ANTHROPIC_API_KEY": "test-key",
        "APPROVALS_STATE_TOPIC": loop.state_topic,
        "APPROVALS_RESOLVER_INTERVAL_MS": "100",
    }
    with log.open("ab") as stderr:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "streamer", "consume", "approvals", "--policy", str(policy),
            "--group-id", loop.group_id, "--http-port", str(port), env=env, cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip


async def test_kill_9_loses_no_escalation_and_doubles_no_answer(
    simulator: Simulator, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A bot killed with SIGKILL mid-run and restarted still lists every escalation, every tool
    use ends with exactly one answer, and SIGTERM then stops the bot cleanly (exit 0)."""
    policy = tmp_path / "policy.toml"
    policy.write_text(MIXED)
    ids = await sessions(simulator, 6)
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(MIXED))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with streamer(simulator.base_url, loop.kafka, ids):
        bot = await start_bot_process(loop, policy, port, tmp_path / "bot.log")
        try:
            before = await settled(
                lambda: listed_or_empty(url),
                done=lambda e: len(e) >= 2,
                timeout_secs=120,
                interval_secs=0.2,
            )
            bot.send_signal(signal.SIGKILL)
            await bot.wait()
            bot = await start_bot_process(loop, policy, port, tmp_path / "bot.log")
            after = await settled(
                lambda: listed_or_empty(url),
                done=lambda e: len(e) >= len(before),
                timeout_secs=120,
                interval_secs=0.2,
            )

            async def deny_listed_then_read() -> list[dict[str, Any]]:
                for escalation in await listed_or_empty(url):
                    await cli("--url", url, "deny", escalation["tool_use_id"], "--by", "bob")
                return await all_history(simulator, ids)

            events = await settled(
                deny_listed_then_read,
                done=every_gated_answered,
                timeout_secs=180,
                interval_secs=0.2,
            )
        finally:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
                await asyncio.wait_for(bot.wait(), 60)
    assert (True, {1}, 0) == (
        {e["tool_use_id"] for e in before} <= {e["tool_use_id"] for e in after},
        set(confirmations(events).values()),
        bot.returncode,
    )  # fmt: skip


async def listed_or_empty(url: str) -> list[dict[str, Any]]:
    try:
        return await listed(url)
    except aiohttp.ClientError:
        return []
