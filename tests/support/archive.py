"""Archive tables for tests, written from real simulator sessions that went through the streamer.

`build_archive` runs the simulator (`chaos` scenario: built-in, MCP and custom tools, approvals,
model errors) with a client that answers every approval (denying `bash` and MCP merges) and custom
tool, the streamer into a real Kafka topic, reads the topic back `read_committed` and writes the
records with `consumers.archive.schema` into a Delta table (in `appends` commits, so that there
are small files to compact). It returns the table and the original records.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer
from deltalake import write_deltalake

from consumers.archive.schema import PARTITION_COLUMNS, records_to_table
from consumers.base import EventRecord
from simulator import Simulator, SimulatorConfig
from streamer.config import load_settings
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.service import Service
from tests.support.kafka import unique_name
from tests.support.truth import truth_by_session
from tests.support.waiting import settled

BETA = {"anthropic-beta": "managed-agents-2026-04-01", "x-api-key": "sk-test"}
AGENTS = ("agent_archive_a", "agent_archive_b")
# A tool input an attacker controls (what a page or file told the agent): must be escaped.
HOSTILE_INPUT = {"command": "echo '<script>alert(1)</script>' && cat ``` </pre>"}


@dataclass(frozen=True)
class Archived:
    """A table written from real sessions, and what the events topic held."""

    uri: str
    records: list[EventRecord]  # in topic order per partition
    source: str  # the ce_source the streamer wrote
    hostile_session: str  # the session holding HOSTILE_INPUT
    failed_session: str  # a session whose last turn ended in an error (besides the scenario's)

    def by_session(self) -> dict[str, list[EventRecord]]:
        grouped: dict[str, list[EventRecord]] = {}
        for record in self.records:
            grouped.setdefault(record.session_id, []).append(record)
        return grouped


async def build_archive(
    bootstrap: str, directory: Path, *, sessions: int = 6, appends: int = 8
) -> Archived:
    """Run sessions through the streamer into Kafka, and archive what the topic holds."""
    config = SimulatorConfig(scenario="chaos", seed=5, speed=200.0, user_turns=2)
    async with Simulator(config) as sim:
        ids = [await sim.create_session(agent_id=AGENTS[n % 2]) for n in range(sessions)]
        kafka = KafkaSettings(
            bootstrap_servers=bootstrap,
            events_topic=unique_name("events"),
            checkpoints_topic=unique_name("checkpoints"),
            dead_letter_topic=unique_name("dlq"),
        )
        sink = SinkSettings(
            transactional_id=unique_name("tx"),
            api_base_url=sim.base_url,
            events_partitions=3,
            checkpoints_partitions=3,
            commit_interval_ms=20,
        )
        settings = load_settings(
            base_url=sim.base_url,
            session_ids=tuple(ids),
            stream_read_timeout_secs=3.0,
            reconnect_initial_secs=0.05,
            reconnect_max_secs=0.5,
            http_port=0,
            api_key="sk-test",
        )
        hostile = {"type": "agent.tool_use", "name": "bash", "input": HOSTILE_INPUT}
        sim.inject(ids[0], hostile | {"evaluated_permission": "allow"})
        async with Service(settings, kafka=kafka, sink_settings=sink), answering(sim, ids):
            await _settle(sim, ids)
            failed = _end_in_error(sim, ids)
            truth = await _settle(sim, ids)
            records = await read_records(
                bootstrap, kafka.events_topic, sum(len(v) for v in truth.values())
            )
    uri = str(directory / "archive")
    write_table(uri, records, appends)
    return Archived(uri, records, sink.event_source, ids[0], failed)


def _end_in_error(sim: Simulator, ids: list[str]) -> str:
    """Make one live session's turn end in an exhausted error (the way the API reports it)."""
    session_id = next(i for i in reversed(ids) if sim.session(i).status != "terminated")
    error = {
        "type": "model_overloaded_error",
        "message": "overloaded",
        "retry_status": {"type": "exhausted"},
    }
    sim.inject(session_id, {"type": "session.error", "error": error})
    sim.inject(
        session_id,
        {
            "type": "session.status_idle",
            "stop_reason": {"type": "retries_exhausted"},
            "stop_details": None,
        },
    )
    return session_id


def write_table(
    uri: str, records: list[EventRecord], appends: int, options: dict[str, str] | None = None
) -> None:
    """Write `records` into the table at `uri` in `appends` commits (in record order)."""
    size = max(1, -(-len(records) // appends))
    for start in range(0, len(records), size):
        table = records_to_table(records[start : start + size])
        write_deltalake(
            uri, table, mode="append", partition_by=PARTITION_COLUMNS, storage_options=options
        )


async def _settle(sim: Simulator, ids: list[str]) -> dict[str, list[str]]:
    def finished() -> bool:
        return all(sim.session(i).autopilot_done and not sim.session(i).waiting_ids() for i in ids)

    await settled(finished, done=bool, timeout_secs=60, stable_secs=1.0)
    return await settled(
        lambda: truth_by_session(sim.ground_truth(), ids),
        done=lambda t: len(t) == len(ids),
        stable_secs=2.0,
    )


@contextlib.asynccontextmanager
async def answering(sim: Simulator, ids: list[str]) -> AsyncIterator[None]:
    """Answer every pending approval (deny bash and MCP merges, allow the rest) and custom tool."""
    async with aiohttp.ClientSession(base_url=sim.base_url, headers=BETA) as http:
        task = asyncio.create_task(_answer_forever(sim, ids, http))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _answer_forever(sim: Simulator, ids: list[str], http: aiohttp.ClientSession) -> None:
    answered: set[str] = set()
    while True:
        for session_id in ids:
            session = sim.session(session_id)
            for use_id in session.waiting_ids():
                if use_id not in answered:
                    answered.add(use_id)
                    answer = _answer(
                        use_id, session.pending[use_id].kind, session.pending[use_id].event
                    )
                    async with http.post(
                        f"/v1/sessions/{session_id}/events", json={"events": [answer]}
                    ) as response:
                        await response.read()
        await asyncio.sleep(0.02)


def _answer(use_id: str, kind: str, use: dict[str, Any]) -> dict[str, Any]:
    if kind == "custom":
        return {
            "type": "user.custom_tool_result",
            "custom_tool_use_id": use_id,
            "content": [{"type": "text", "text": "customer: ACME"}],
        }
    if use.get("name") in ("bash", "merge_pull_request"):
        return {
            "type": "user.tool_confirmation",
            "tool_use_id": use_id,
            "result": "deny",
            "deny_message": f"no {use.get('name')} here",
        }
    return {"type": "user.tool_confirmation", "tool_use_id": use_id, "result": "allow"}


async def read_records(
    bootstrap: str, topic: str, expected: int, timeout_secs: float = 60
) -> list[EventRecord]:
    """Every committed record of `topic` as EventRecords, once `expected` are there."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=unique_name("arch"),
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[EventRecord] = []
    try:
        deadline = time.monotonic() + timeout_secs
        while len(records) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            records += [_parse(m) for msgs in batches.values() for m in msgs]
    finally:
        await consumer.stop()
    return records


def _parse(message: Any) -> EventRecord:
    return EventRecord.parse(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers={k: bytes(v) for k, v in message.headers or ()},
        timestamp_ms=message.timestamp,
    )
