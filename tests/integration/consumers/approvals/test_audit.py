"""The audit trail of automatic answers, written after the answer (consumers.approvals.answer):
still exactly one record per answer, and the state says `answered`, once the bot has stopped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from consumers.approvals.model import ANSWERED
from consumers.approvals.policy import Policy
from consumers.approvals.state import StateStore
from simulator import Simulator, SimulatorConfig
from tests.support.approvals import Loop, confirmations, gated, history, loop_kafka, streamer
from tests.support.waiting import settled

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ALLOW_ALL = """
version = 1
allow = ["bash", "read", "write", "edit", "glob", "grep", "web_fetch", "web_search"]
"""


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator serving `coding` sessions quickly."""
    config = SimulatorConfig(scenario="coding", sessions=0, seed=11, speed=200.0)
    async with Simulator(config) as sim:
        yield sim


async def read_to_end(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record of `topic` written so far (up to its end offsets now)."""
    reader = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await reader.start()
    records: list[dict[str, Any]] = []
    try:
        while not reader.assignment():  # no group: every partition, once metadata is in
            batches = await reader.getmany(timeout_ms=100)
            records += [orjson.loads(m.value) for b in batches.values() for m in b]
        ends = await reader.end_offsets(list(reader.assignment()))
        while [tp for tp, end in ends.items() if await reader.position(tp) < end]:
            batches = await reader.getmany(timeout_ms=200)
            records += [orjson.loads(m.value) for b in batches.values() for m in b]
    finally:
        await reader.stop()
    return records


async def test_each_automatic_answer_has_one_audit_record(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """Every confirmation the bot sent has exactly one `answered` audit record and an `answered`
    entry in the state topic once the bot has stopped (it waits for its bookkeeping)."""
    ids = [await simulator.create_session(scenario="coding") for _ in range(3)]
    loop = Loop(simulator.base_url, loop_kafka(kafka_bootstrap), Policy.from_text(ALLOW_ALL))

    async def answered() -> int:
        events = [e for sid in ids for e in await history(simulator.base_url, sid)]
        return len(confirmations(events))

    def enough(count: int) -> bool:
        return count >= 6

    async with streamer(simulator.base_url, loop.kafka, ids):
        await loop.start_bot()
        try:
            await settled(answered, done=enough, timeout_secs=90, stable_secs=0,
                          interval_secs=0.2)  # fmt: skip
        finally:
            await loop.stop_bots()
        events = [e for sid in ids for e in await history(simulator.base_url, sid)]
    sent = {use["id"] for use in gated(events)} & set(confirmations(events))
    audit = await read_to_end(loop.kafka.bootstrap_servers, loop.kafka.approvals_topic)
    async with StateStore(loop.kafka, loop.state_topic) as state:
        statuses = {i: (e.status if (e := state.get(i)) else None) for i in sent}
    audited = Counter(a["tool_use_id"] for a in audit if a["outcome"] == ANSWERED)
    assert (dict.fromkeys(sent, 1), dict.fromkeys(sent, ANSWERED)) == (dict(audited), statuses)
