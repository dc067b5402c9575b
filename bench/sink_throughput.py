"""Kafka sink throughput: events per CPU-second of the sink in exactly-once mode, real broker.

Compares the sink (batched transactions + checkpoints) with a naive baseline that awaits one
`send_and_wait` per event on an idempotent producer, and can profile the sink with cProfile.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 .venv/bin/python bench/sink_throughput.py \
        --events 100000 --sessions 1000 --baseline-events 5000 --profile

CPU is this process's (`time.process_time()`): the sink's share of the streamer's budget. Event
generation happens before the clock starts.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import time
import uuid

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamer.events import SessionEvent
from streamer.kafka.config import KafkaSettings
from streamer.kafka.records import RecordFormat
from streamer.kafka.settings import SinkSettings
from streamer.kafka.sink import KafkaSink

# (type, share, payload bytes): a mix shaped like an agent's session — many small span and
# status events, messages of a few hundred bytes, occasional multi-kilobyte tool results.
MIX = [
    ("span.model_request_start", 0.15, 0),
    ("span.model_request_end", 0.15, 120),
    ("agent.message", 0.20, 500),
    ("agent.thinking", 0.10, 0),
    ("agent.tool_use", 0.15, 250),
    ("agent.tool_result", 0.12, 3000),
    ("session.status_running", 0.05, 0),
    ("session.status_idle", 0.05, 60),
    ("session.usage", 0.03, 200),
]


def make_events(count: int, sessions: int, seed: int = 7) -> list[SessionEvent]:
    """`count` events spread round-robin over `sessions`, with increasing timestamps."""
    rng = random.Random(seed)
    types = [t for t, _, _ in MIX]
    weights = [w for _, w, _ in MIX]
    sizes = {t: s for t, _, s in MIX}
    events = []
    for n in range(count):
        kind = rng.choices(types, weights)[0]
        session = f"sesn_{n % sessions:06d}"
        event_id = f"sevt_{uuid.UUID(int=rng.getrandbits(128)).hex}"
        ms = n // sessions
        hours, minutes, seconds = ms // 3_600_000 % 24, ms // 60000 % 60, ms // 1000 % 60
        at = f"2026-04-07T{hours:02d}:{minutes:02d}:{seconds:02d}.{ms % 1000:03d}Z"
        body = {"type": kind, "id": event_id, "processed_at": at}
        if sizes[kind]:
            body["content"] = [{"type": "text", "text": "x" * sizes[kind]}]
        raw = orjson.dumps(body)
        events.append(SessionEvent(session, event_id, kind, at, raw, thread_id=None))
    return events


def unique_kafka(bootstrap: str) -> KafkaSettings:
    suffix = uuid.uuid4().hex[:8]
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        events_topic=f"bench-events-{suffix}",
        checkpoints_topic=f"bench-checkpoints-{suffix}",
        dead_letter_topic=f"bench-dead-letter-{suffix}",
    )


async def run_sink(bootstrap: str, events: list[SessionEvent], profile: bool) -> dict[str, float]:
    settings = SinkSettings(transactional_id=f"bench-{uuid.uuid4().hex[:8]}")
    async with KafkaSink(unique_kafka(bootstrap), settings) as sink:
        profiler = cProfile.Profile() if profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        for event in events:
            await sink.publish(event)
        await sink.flush()
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
        print(out.getvalue())
    return {"cpu": cpu, "wall": wall}


async def run_baseline(bootstrap: str, events: list[SessionEvent]) -> dict[str, float]:
    kafka = unique_kafka(bootstrap)
    record_format = RecordFormat(
        source="https://api.anthropic.com/v1/sessions",
        events_topic=kafka.events_topic,
        checkpoints_topic=kafka.checkpoints_topic,
        dead_letter_topic=kafka.dead_letter_topic,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(kafka.events_topic, b"{}", key=b"warm-up")
        cpu, wall = time.process_time(), time.perf_counter()
        for event in events:
            record = record_format.event_record(event)
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await producer.stop()
    return {"cpu": cpu, "wall": wall}


async def run_latency(bootstrap: str, events: list[SessionEvent], rate: int) -> list[float]:
    """Publish at `rate` events/s; seconds from `publish` to a read_committed reader seeing it."""
    kafka = unique_kafka(bootstrap)
    settings = SinkSettings(transactional_id=f"bench-{uuid.uuid4().hex[:8]}")
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    async with KafkaSink(kafka, settings) as sink:
        consumer = AIOKafkaConsumer(
            kafka.events_topic,
            bootstrap_servers=bootstrap,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
        )
        await consumer.start()
        try:
            reader = asyncio.create_task(_read_latencies(consumer, sent, latencies, len(events)))
            started = time.perf_counter()
            for n, event in enumerate(events):
                delay = started + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent[event.event_id.encode()] = time.perf_counter()
                await sink.publish(event)
            await asyncio.wait_for(reader, 60)
        finally:
            await consumer.stop()
    return latencies


async def _read_latencies(
    consumer: AIOKafkaConsumer, sent: dict[bytes, float], out: list[float], count: int
) -> None:
    while len(out) < count:
        for messages in (await consumer.getmany(timeout_ms=100)).values():
            now = time.perf_counter()
            for message in messages:
                event_id = dict(message.headers)["ce_id"]
                out.append(now - sent[bytes(event_id)])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, count: int, result: dict[str, float]) -> float:
    per_cpu = count / result["cpu"]
    print(
        f"{name:<28} events={count:>7} cpu_s={result['cpu']:7.2f} wall_s={result['wall']:7.2f} "
        f"events_per_cpu_s={per_cpu:>9.0f} events_per_wall_s={count / result['wall']:>9.0f}"
    )
    return per_cpu


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--baseline-events", type=int, default=5000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--latency-rates", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--latency-seconds", type=int, default=5)
    args = parser.parse_args()

    events = make_events(args.events, args.sessions)
    mean = sum(len(e.raw) for e in events) / len(events)
    print(f"events: {len(events)} over {args.sessions} sessions, mean value {mean:.0f} bytes")
    sink = report("sink exactly_once", len(events), await run_sink(args.bootstrap, events, False))
    baseline_events = events[: args.baseline_events]
    baseline = report(
        "baseline send_and_wait",
        len(baseline_events),
        await run_baseline(args.bootstrap, baseline_events),
    )
    print(f"ratio sink/baseline (events per CPU-second): {sink / baseline:.1f}x")
    for rate in args.latency_rates:
        sample = events[: rate * args.latency_seconds]
        latencies = await run_latency(args.bootstrap, sample, rate)
        print(
            f"latency publish->read_committed at {rate} events/s ({len(latencies)} events): "
            f"p50={percentile(latencies, 0.5) * 1000:.0f} ms "
            f"p99={percentile(latencies, 0.99) * 1000:.0f} ms"
        )
    if args.profile:
        await run_sink(args.bootstrap, events, True)


if __name__ == "__main__":
    asyncio.run(main())
