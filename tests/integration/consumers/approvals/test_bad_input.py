"""Bad input reaching the bot for real: odd tool inputs, a session that is gone, an answer the
API refuses. Each is recorded (state + metric), nothing is answered twice, the bot keeps going.
Also shadow mode, which evaluates and audits without answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from consumers.approvals import metrics
from consumers.approvals.model import ESCALATED, REFUSED, SESSION_GONE, SHADOW
from consumers.approvals.policy import Policy
from simulator import Simulator, SimulatorConfig
from tests.support.approvals import BETA, Loop, confirmations, gated, history, loop_kafka, streamer
from tests.support.waiting import settled, until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

POLICY = """
version = 1
default = "ask"
[[allow]]
rule = "bash(ls:*)"
"""


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator serving `coding` sessions quickly."""
    config = SimulatorConfig(scenario="coding", sessions=0, seed=11, speed=200.0)
    async with Simulator(config) as sim:
        yield sim


async def blocked(sim: Simulator, session_id: str) -> None:
    """Wait until the session waits for an answer (its last event asks for action)."""

    async def asks() -> bool:
        events = await history(sim.base_url, session_id)
        return bool(events) and b"requires_action" in orjson.dumps(events[-1])

    await until(asks, interval_secs=0.1)


def count(metric: Any, label: str) -> float:
    return float(metric.labels(label)._value.get())


async def test_bad_inputs_are_recorded_once_and_the_bot_keeps_going(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """Inputs of the wrong shape / huge / odd characters are judged; an answer the API refuses
    is recorded as refused; a deleted session's tool use as session_gone; none is answered twice."""
    live, gone = await simulator.create_session(), await simulator.create_session()
    await blocked(simulator, live)
    await blocked(simulator, gone)
    [gone_use] = [u["id"] for u in gated(await history(simulator.base_url, gone))][-1:]

    def gated_use(tool_input: object, name: str = "bash") -> str:
        event = {"type": "agent.tool_use", "name": name, "input": tool_input,
                 "evaluated_permission": "ask", "evaluation": {"type": "always_ask"}}  # fmt: skip
        return str(simulator.inject(live, event)["id"])

    odd = {
        gated_use(["not", "a", "mapping"]): ESCALATED,
        gated_use({"command": "x" * 400_000}): ESCALATED,
        gated_use({"command": "printf '\u0000\ufffe\u202e\x7f'", "stdin": "\x00" * 64}): ESCALATED,
        gated_use({"command": "ls -la"}): REFUSED,  # allowed, but the session never asked
    }
    malformed, refused = (
        count(metrics.PROBLEMS, "malformed_input"),
        count(metrics.OUTCOMES, REFUSED),
    )
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(POLICY))
    async with streamer(simulator.base_url, loop.kafka, [live, gone]):
        await published(loop.kafka.bootstrap_servers, loop.kafka.events_topic, gone_use)
        async with (
            aiohttp.ClientSession(base_url=simulator.base_url, headers=BETA) as http,
            http.delete(f"/v1/sessions/{gone}") as response,
        ):
            assert 200 == response.status
        bot = await loop.start_bot()
        try:
            state = bot.runner.consumer.state  # type: ignore[attr-defined]

            def statuses() -> dict[str, str | None]:
                ids = [*odd, gone_use]
                return {i: (e.status if (e := state.get(i)) else None) for i in ids}

            await until(lambda: None not in statuses().values() and
                           statuses()[[*odd][-1]] == REFUSED)  # fmt: skip
            events = await history(simulator.base_url, live)
        finally:
            await loop.stop_bots()
    assert (odd | {gone_use: SESSION_GONE}, 1.0, 1.0, True) == (
        statuses(),
        count(metrics.PROBLEMS, "malformed_input") - malformed,
        count(metrics.OUTCOMES, REFUSED) - refused,
        all(n == 1 for n in confirmations(events).values()),
    )  # fmt: skip


async def test_shadow_mode_audits_without_answering(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """In shadow mode every gated tool use is evaluated and audited (shadow=true), none answered."""
    session = await simulator.create_session()
    await blocked(simulator, session)
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(POLICY))
    uses = [u["id"] for u in gated(await history(simulator.base_url, session))]
    async with streamer(simulator.base_url, loop.kafka, [session]):
        bot = await loop.start_bot(shadow=True)
        try:
            state = bot.runner.consumer.state  # type: ignore[attr-defined]
            await until(lambda: all((e := state.get(u)) and e.status == SHADOW for u in uses))
        finally:
            await loop.stop_bots()
    audit = await read_audit(loop.kafka.bootstrap_servers, loop.kafka.approvals_topic, len(uses))
    events = await history(simulator.base_url, session)
    assert (sorted(uses), {True}, 0) == (
        sorted(a["tool_use_id"] for a in audit), {a["shadow"] for a in audit},
        len(confirmations(events)),
    )  # fmt: skip


async def read_audit(bootstrap: str, topic: str, count_: int) -> list[dict[str, Any]]:
    reader = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await reader.start()
    records: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(60):
            while len(records) < count_:
                batches = await reader.getmany(timeout_ms=200)
                records += [orjson.loads(m.value) for b in batches.values() for m in b]
    finally:
        await reader.stop()
    return records


async def published(bootstrap: str, topic: str, event_id: str) -> None:
    """Wait until the streamer has committed the event with `event_id` to `topic`."""
    reader = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                              isolation_level="read_committed")  # fmt: skip
    await reader.start()
    try:
        async with asyncio.timeout(60):
            while True:
                batches = await reader.getmany(timeout_ms=200)
                if any(m.headers and ("ce_id", event_id.encode()) in m.headers
                       for b in batches.values() for m in b):  # fmt: skip
                    return
    finally:
        await reader.stop()


async def test_transient_api_errors_are_retried_without_doubling(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """The API failing the bot's POSTs with 503 (twice) delays the answer; the session still
    gets exactly one confirmation per tool use."""
    session = await simulator.create_session()
    await blocked(simulator, session)
    simulator.faults.set({"http_status": 503, "http_count": 2, "http_scope": "send"}, session)
    errors = count(metrics.PROBLEMS, "api_error")
    policy = 'version = 1\nallow = ["bash", "read", "write", "edit", "web_fetch", "grep"]\n'
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(policy))
    async with streamer(simulator.base_url, loop.kafka, [session]):
        await loop.start_bot(escalation_timeout_secs=0.5)
        try:

            def all_confirmed(events: list[dict[str, Any]]) -> bool:
                uses = gated(events)
                return bool(uses) and set(confirmations(events)) >= {u["id"] for u in uses}

            events = await settled(
                lambda: history(simulator.base_url, session),
                done=all_confirmed,
                timeout_secs=90,
                interval_secs=0.2,
            )
        finally:
            await loop.stop_bots()
    assert ({1}, True) == (
        set(confirmations(events).values()), count(metrics.PROBLEMS, "api_error") - errors >= 2
    )  # fmt: skip
