"""Metrics consumer: events per CPU-second on the `load` scenario's mix, and the CPU of a scrape.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 .venv/bin/python bench/metrics_consumer.py \
        --sessions 200 --copies 10 --partitions 16

1. The mix: the simulator runs `--sessions` `load` sessions to their end, in-process; their
   persisted events (bodies, byte for byte, as the streamer would publish them) are repeated
   `--copies` times under fresh session ids.
2. `fold`: the consumer's own work per record (`parse_record` + `handle`: JSON decoding, the
   fold, the offset), without Kafka. CPU is `time.process_time()`.
3. `runner` (with `KAFKA_BOOTSTRAP_SERVERS`): the same records on a real topic, consumed by the
   runner with the metrics consumer (read_committed, batches, state records every 500 ms), CPU
   of this process from the first assignment to the last offset stored.
4. `scrape`: one `/metrics` exposition (text format) with every label vocabulary populated on
   `--partitions` partitions: CPU per scrape and the series count.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

from consumers.metrics.collector import Exposition
from consumers.metrics.config import MetricsSettings
from consumers.metrics.consumer import MetricsConsumer
from consumers.metrics.prices import PriceTable
from consumers.metrics.state import HISTOGRAMS, PartitionState, Session
from consumers.metrics.vocab import (
    BUILTIN_TOOLS,
    DECIDED_BY,
    ERROR_TYPES,
    EVENT_TYPES,
    MAX_MCP_SERVERS,
    OTHER,
    PROBLEMS,
    RETRY_STATUSES,
    STOP_REASONS,
    TOKEN_TYPES,
)
from consumers.runner import Runner
from consumers.settings import RunnerSettings
from simulator import Simulator, SimulatorConfig
from streamer.kafka.config import KafkaSettings

MODEL = b"claude-sonnet-4-6"


async def load_mix(sessions: int) -> list[tuple[str, bytes]]:
    """(session id, event JSON) of `sessions` finished `load` sessions, in persistence order."""
    config = SimulatorConfig(scenario="load", seed=3, speed=2000.0, user_turns=3)
    async with Simulator(config) as sim:
        ids = [await sim.create_session() for _ in range(sessions)]
        while not all(sim.session(s).autopilot_done for s in ids):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        return [(s, e.body) for s in ids for e in sim.session(s).log.events]


def copies(mix: list[tuple[str, bytes]], count: int) -> list[tuple[str, bytes]]:
    """The mix `count` times, each copy under its own session ids."""
    return [(f"{s}_{n}", body) for n in range(count) for s, body in mix]


def partition_of(session_id: str, partitions: int) -> int:
    return hash(session_id) % partitions


def bench_fold(records: list[tuple[str, bytes]], partitions: int) -> dict[str, float]:
    consumer = MetricsConsumer(MetricsSettings(approvals=False))
    consumer.states = {p: PartitionState() for p in range(partitions)}
    offsets = [0] * partitions
    prepared = []
    for session_id, body in records:
        p = partition_of(session_id, partitions)
        prepared.append((p, offsets[p], session_id.encode(), body))
        offsets[p] += 1
    headers = {"ce_agentmodel": MODEL}
    loop = asyncio.new_event_loop()

    async def run() -> None:
        for p, offset, key, body in prepared:
            record = consumer.parse_record(topic="t", partition=p, offset=offset, key=key,
                                           value=body, headers=headers, timestamp_ms=0)  # fmt: skip
            await consumer.handle(record)

    started = time.process_time()
    loop.run_until_complete(run())
    cpu = time.process_time() - started
    loop.close()
    return {"events": len(records), "cpu_s": cpu, "per_cpu_s": len(records) / cpu}


async def bench_runner(records: list[tuple[str, bytes]], bootstrap: str) -> dict[str, float]:
    kafka = KafkaSettings(bootstrap_servers=bootstrap, events_topic=f"bench-{uuid.uuid4().hex[:8]}")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(kafka.events_topic, 4, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=1 << 20)  # fmt: skip
    await producer.start()
    for session_id, body in records:
        await producer.send(kafka.events_topic, body, key=session_id.encode(),
                            headers=[("ce_agentmodel", MODEL)])  # fmt: skip
    await producer.flush()
    await producer.stop()
    settings = MetricsSettings(approvals=False, state_topic=f"bench-state-{uuid.uuid4().hex[:8]}")
    consumer = MetricsConsumer(settings)
    runner = Runner(consumer, kafka=kafka, settings=RunnerSettings(max_batch_records=2000),
                    group_id=f"bench-{uuid.uuid4().hex[:8]}")  # fmt: skip
    async with runner:
        task = asyncio.create_task(runner.run())
        while not consumer.states:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        started, wall = time.process_time(), time.monotonic()
        while sum(s.next_offset or 0 for s in consumer.states.values()) < len(records):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await consumer.flush(set(consumer.states))
        cpu, elapsed = time.process_time() - started, time.monotonic() - wall
        runner.request_stop()
        await task
    return {"events": len(records), "cpu_s": cpu, "wall_s": elapsed,
            "per_cpu_s": len(records) / cpu}  # fmt: skip


def populated(partition: int) -> PartitionState:
    """A partition with every label vocabulary populated (each value once)."""
    state = PartitionState(next_offset=1)
    models = [*PriceTable.load().models, OTHER]
    tools = [*BUILTIN_TOOLS, *(f"mcp__server{i}" for i in range(MAX_MCP_SERVERS)), "custom", OTHER]
    for model in models:
        state.inc("agents_cost_usd", (model,), 1.0)
        state.inc("agents_cost_estimated_usd", (model,), 1.0)
        for token_type in TOKEN_TYPES:
            state.inc("agents_model_tokens", (token_type, model), 100)
    for event_type in [*EVENT_TYPES, OTHER]:
        state.inc("agents_events", (event_type,))
    state.inc("agents_sessions_ended", ())
    for error in [*ERROR_TYPES, OTHER]:
        for retry in [*RETRY_STATUSES, OTHER]:
            state.inc("agents_session_errors", (error, retry))
    for tool in tools:
        state.inc("agents_tool_errors", (tool,))
        for permission in ("allow", "ask", "deny", "none", OTHER):
            state.inc("agents_tool_uses", (tool, permission))
    for reason in [*STOP_REASONS, OTHER]:
        state.inc("agents_stop_reasons", (reason,))
    for decision in ("allow", "deny", OTHER):
        for who in [*DECIDED_BY, OTHER]:
            state.inc("agents_approval_decisions", (decision, who))
    for problem in PROBLEMS:
        state.inc("agents_metrics_problems", (problem,))
    for name in HISTOGRAMS:
        state.histograms[name].observe(partition + 0.5)
    state.sessions = {f"sesn_{i}": Session(status=("running", "idle", "rescheduling")[i % 3],
                                           pending={"sevt": 1.0}) for i in range(30)}  # fmt: skip
    return state


def bench_scrape(partitions: int, scrapes: int = 20) -> dict[str, float]:
    """CPU of one `/metrics` body as `consumers/http.py` builds it: the process registry (the
    runner's metrics) plus the consumer's families, in the text format and in OpenMetrics."""
    rendering = Exposition()
    rendering.add_source("", {p: populated(p).snapshot() for p in range(partitions)})
    text = rendering.render(False)
    series = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    result: dict[str, float] = {"partitions": partitions, "series": series}
    for fmt, render in (
        ("text", lambda: generate_latest(REGISTRY) + rendering.render(False)),
        ("openmetrics", lambda: openmetrics.generate_latest(REGISTRY) + rendering.render(True)),
    ):
        started = time.process_time()
        for _ in range(scrapes):
            body = render()
        result[f"{fmt}_cpu_ms"] = (time.process_time() - started) / scrapes * 1000
        result[f"{fmt}_bytes"] = len(body)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=16)
    args = parser.parse_args()
    mix = asyncio.run(load_mix(args.sessions))
    records = copies(mix, args.copies)
    types: dict[str, int] = {}
    for _session, body in mix:
        kind = orjson.loads(body)["type"]
        types[kind] = types.get(kind, 0) + 1
    print(f"mix: {len(mix)} events of {args.sessions} load sessions, x{args.copies}:",
          dict(sorted(types.items(), key=lambda kv: -kv[1])))  # fmt: skip
    print("fold:", _fmt(bench_fold(records, args.partitions)))
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        print("runner:", _fmt(asyncio.run(bench_runner(records, bootstrap))))
    for partitions in sorted({4, args.partitions}):
        print("scrape:", _fmt(bench_scrape(partitions)))


def _fmt(result: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:,.2f}" if isinstance(v, float) else f"{k}={v:,}"
                     for k, v in result.items())  # fmt: skip


if __name__ == "__main__":
    main()
