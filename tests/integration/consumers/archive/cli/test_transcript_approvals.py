"""`transcript --approvals`: who decided, from the real approval bot's audit records.

Simulator (`coding` sessions: bash, write, edit and web_fetch ask for approval) → streamer →
Kafka → the approval bot (policy: allow write and edit, deny bash, ask a person for the rest) and
a person (`alice`, through the bot's HTTP API, as `streamer approvals allow` does); the events
topic is archived, and the transcript names the policy rule or the person for each answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from consumers.approvals.policy import Policy
from simulator import Simulator, SimulatorConfig
from streamer.cli import main
from tests.support.approvals import Bot, Loop, loop_kafka, streamer
from tests.support.archive import read_records, write_table
from tests.support.truth import truth_by_session
from tests.support.waiting import settled

pytestmark = pytest.mark.kafka

POLICY = """
version = 1
default = "ask"
[[allow]]
rule = "write"
[[allow]]
rule = "edit"
[[deny]]
rule = "bash"
reason = "No shell in this test."
"""


@contextlib.asynccontextmanager
async def person(bot: Bot) -> AsyncIterator[None]:
    """Alice allows every escalation the bot lists."""

    async def decide() -> None:
        async with aiohttp.ClientSession(base_url=bot.url) as http:
            while True:
                async with http.get("/approvals") as response:
                    waiting = (await response.json())["data"]
                for entry in waiting:
                    body = {"decision": "allow", "by": "alice", "reason": "looked fine"}
                    async with http.post(f"/approvals/{entry['tool_use_id']}/decision",
                                         json=body) as response:  # fmt: skip
                        await response.read()
                await asyncio.sleep(0.05)

    task = asyncio.create_task(decide())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_transcript_names_the_rule_or_the_person(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every answered approval names the bot's rule (policy decisions) or alice (escalations)."""
    config = SimulatorConfig(scenario="coding", seed=3, speed=200.0, user_turns=2)
    async with Simulator(config) as sim:
        ids = [await sim.create_session() for _ in range(3)]
        loop = Loop(sim.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(POLICY))
        async with streamer(sim.base_url, loop.kafka, ids):
            bot = await loop.start_bot()
            try:
                async with person(bot):
                    await settled(lambda: _finished(sim, ids), done=bool, timeout_secs=60)
                    truth = await settled(lambda: truth_by_session(sim.ground_truth(), ids),
                                          done=lambda t: len(t) == 3, stable_secs=2.0)  # fmt: skip
                    records = await read_records(kafka_bootstrap, loop.kafka.events_topic,
                                                 sum(map(len, truth.values())))  # fmt: skip
            finally:
                await loop.stop_bots()
    uri = str(tmp_path / "archive")
    write_table(uri, records, 1)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("KAFKA_APPROVALS_TOPIC", loop.kafka.approvals_topic)
    answered = {}
    for session in ids:
        out = await asyncio.to_thread(_transcript, uri, session)
        calls = [c for c in out if c["kind"] == "tool_call" and c["approval"]]
        answered |= {c["tool"]: c["approval"]["by"] for c in calls if c["approval"]["at"]}

    assert {"bash", "write", "edit", "web_fetch"} <= set(answered), answered
    assert answered["bash"].startswith("the approval bot's policy (rule bash,")
    assert answered["write"].startswith("the approval bot's policy (rule write,")
    assert answered["web_fetch"] == "alice (a person, through the approval bot)"


def _finished(sim: Simulator, ids: list[str]) -> bool:
    return all(sim.session(i).autopilot_done and not sim.session(i).waiting_ids() for i in ids)


def _transcript(uri: str, session: str) -> list[dict[str, Any]]:
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["archive", "transcript", session, "--uri", uri, "--format", "jsonl",
                     "--approvals"])  # fmt: skip
    assert 0 == code
    return [orjson.loads(line) for line in out.getvalue().splitlines()]
