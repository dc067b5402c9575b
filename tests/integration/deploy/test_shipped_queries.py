"""Every PromQL expression that ships returns data from a real Prometheus scraping the pipeline.

The simulator (coding, chaos and mixed sessions, one of them with stream faults) feeds the
streamer, which publishes to real Kafka; the approval bot answers tool uses; the metrics consumer
turns both topics into fleet metrics. Each runs as its own `python -m streamer` process, the way
it is deployed, and Debian's Prometheus scrapes all three every second with the job names of
deploy/prometheus/prometheus.yml and loads deploy/prometheus/rules/. The expressions are read
from the generated dashboard JSON and the rule files (tests/support/promql.py), so a panel or an
alert added later is covered without touching this test.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from simulator import Simulator, SimulatorConfig
from simulator.engine.lifecycle_events import terminate
from tests.support.processes import Pipeline
from tests.support.prometheus import PromClient, system_tool
from tests.support.promql import ROOT, RULE_FILES, Expression, shipped_expressions

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

POLICY = ROOT / "deploy" / "policies" / "example.toml"
# Coding sessions gate tool uses (the bot allows, denies or escalates them); chaos sessions fail
# model requests and tools, call MCP and custom tools; mixed ones run outcome evaluations. One
# record on the events topic is not an event at all (the consumers count it as bad input); the
# mixed session is terminated.
SCENARIOS = ("coding", "coding", "coding", "chaos", "chaos", "chaos", "mixed")
# On the first two sessions' streams: bad frames (errors), duplicates (skipped), then a cut (a
# reconnect). The sessions are created once the streamer follows, so their events arrive live.
STREAM_FAULTS = {"malformed_every": 3, "duplicate_every": 2, "cut_after_frames": 8,
                 "stream_count": 2}  # fmt: skip


async def _start_pipeline(pipeline: Pipeline) -> None:
    """The streamer first (it creates the events topic), the approvals topic, the consumers."""
    pipeline.start("agents-streamer", "run", "--discovery-interval-secs", "0.5",
                   "--reconnect-max-secs", "0.5", "--log-level", "warning")  # fmt: skip
    await pipeline.serving()
    await _create_topic(pipeline.bootstrap, pipeline.env["KAFKA_APPROVALS_TOPIC"], partitions=3)
    pipeline.start("agents-approvals", "consume", "approvals", "--policy", str(POLICY),
                   "--escalation-timeout-secs", "3", "--log-level", "warning")  # fmt: skip
    pipeline.start("agents-metrics", "consume", "metrics", "--log-level", "warning")
    await pipeline.serving()


async def _create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


def _has_data(expression: Expression, result: list[dict[str, Any]]) -> bool:
    """A sample at all; for totals over the range (`increase`), a sample above zero."""
    if "increase(" not in expression.expr:
        return bool(result)
    return any(float(row["value"][1]) > 0 for row in result)


async def _until_all_have_data(
    client: PromClient, expressions: list[Expression], limit_secs: float
) -> dict[str, list[dict[str, Any]]]:
    """Query each expression until it has data (`_has_data`); what each returned last."""
    results: dict[str, list[dict[str, Any]]] = {e.source: [] for e in expressions}
    waiting = list(expressions)
    deadline = time.monotonic() + limit_secs
    while waiting and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        for expression in waiting:
            results[expression.source] = await client.query(expression.expr)
        waiting = [e for e in waiting if not _has_data(e, results[e.source])]
    return results


def _lint(exposition: bytes) -> str:
    """What `promtool check metrics` finds wrong with a `/metrics` body ("" when nothing)."""
    command = [system_tool("promtool"), "check", "metrics"]
    result = subprocess.run(command, input=exposition, capture_output=True, check=False, timeout=60)
    return (result.stdout + result.stderr).decode(errors="replace").strip()


async def _produce_bad_record(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"this is not an event", key=b"sesn_not_json")
    finally:
        await producer.stop()


async def test_every_dashboard_and_rule_expression_returns_data(
    kafka_bootstrap: str, tmp_path: Path, local_prometheus: Any
) -> None:
    """Each panel query and each alert's expression (comparison made `bool`) has samples; the
    totals over the dashboard's range are above zero; every `/metrics` passes promtool's lint."""
    expressions = shipped_expressions()
    config = SimulatorConfig(scenario="coding", seed=3, speed=40.0, user_turns=2)
    async with Simulator(config) as sim:
        with Pipeline(kafka_bootstrap, sim.base_url, tmp_path / "logs") as pipeline:
            await _start_pipeline(pipeline)
            # Scraping before the sessions start, so that counters are seen rising.
            server = await local_prometheus(pipeline.targets(), RULE_FILES)
            await server.client.query_until_data('up{job="agents-metrics"} == 1')
            sessions = [await sim.create_session(scenario=s) for s in SCENARIOS]
            for session_id in sessions[:2]:
                sim.faults.set(dict(STREAM_FAULTS), session_id=session_id)
            await _produce_bad_record(kafka_bootstrap, pipeline.env["KAFKA_EVENTS_TOPIC"])
            # One session ends for sure (chaos ones only may, by a terminal error).
            await asyncio.sleep(1.0)
            await terminate(sim.session(sessions[-1]), sim.core.registry)
            results = await _until_all_have_data(server.client, expressions, limit_secs=90)
            targets = {t["labels"]["job"]: t["health"] for t in await server.client.targets()}
            rules = await server.client.rules()
            logs = {child.job: child.log_tail() for child in pipeline.children}
            expositions = await pipeline.expositions()

    empty = [e.source for e in expressions if not _has_data(e, results[e.source])]
    assert [] == empty, "no data:\n" + "\n".join(empty) + f"\nlogs (tails): {logs}"
    assert {"agents-streamer": "up", "agents-approvals": "up", "agents-metrics": "up"} == targets
    assert [] == [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"]
    lint = {job: _lint(body) for job, body in expositions.items()}
    assert dict.fromkeys(targets, "") == lint
    assert len([e for e in expressions if e.source.startswith("agents.yml")]) == len(rules)
