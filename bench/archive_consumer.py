"""Archive consumer: events per CPU-second into the Delta table, and data files per hour.

    .venv/bin/python bench/archive_consumer.py --events 200000
    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 .venv/bin/python bench/archive_consumer.py \
        --events 200000 --kafka --paced-secs 120

The events are the simulator's `load` scenario (run in-process for a moment; its persisted event
JSON taken as the records' values), cycled to `--events` with fresh offsets. Three figures:

- `handler`: what the archive costs per event in the consumer process — `EventRecord.parse`
  (the runner's decoding), `handle_batch` with each partition's share of every 500 records (as
  the runner hands them over), the runner's `commit` after every 500, and the Delta writes
  (parquet encoding and commits; delta-rs's threads count, CPU is the process's
  `time.process_time()`) into a table on local disk, default settings (64 MiB writes);
- `with --kafka`: the same events produced to a fresh topic first (not timed), then read by the
  real runner (aiokafka, read_committed) until the table holds them all;
- `with --paced-secs N`: 1,000 events/s produced for N seconds through the runner with the default
  flush age; the data files added per hour per Delta partition (day) and per Kafka partition.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from deltalake import DeltaTable

from consumers.archive.config import ArchiveSettings
from consumers.archive.consumer import ArchiveConsumer
from consumers.base import ConsumerContext, EventRecord
from consumers.runner import Runner
from simulator import Simulator, SimulatorConfig
from streamer import gctune
from streamer.kafka.config import KafkaSettings

PARTITIONS = 4
BATCH = 500


async def load_mix(sessions: int, seconds: float) -> list[tuple[str, bytes]]:
    """(session id, event JSON) of the `load` scenario's persisted events, in order."""
    config = SimulatorConfig(scenario="load", sessions=sessions, seed=3, speed=1.0)
    async with Simulator(config) as sim:
        await asyncio.sleep(seconds)
        ids = sorted({t["session_id"] for t in sim.ground_truth()})
        return [(s, e.body) for s in ids for e in sim.session(s).log.events]


def as_records(mix: list[tuple[str, bytes]], count: int, topic: str) -> list[dict[str, object]]:
    """`count` record fields (key, value, partition, offset), the mix cycled."""
    offsets = [0] * PARTITIONS
    now_ms = int(time.time() * 1000)
    fields: list[dict[str, object]] = []
    for session, body in itertools.islice(itertools.cycle(mix), count):
        partition = hash(session) % PARTITIONS
        fields.append({"topic": topic, "partition": partition, "offset": offsets[partition],
                       "key": session.encode(), "value": body, "headers": {},
                       "timestamp_ms": now_ms})  # fmt: skip
        offsets[partition] += 1
    return fields


async def bench_handler(fields: list[dict[str, object]], uri: str) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, data files) to archive `fields` in process."""
    consumer = ArchiveConsumer(ArchiveSettings(uri=uri))
    await consumer.start(ConsumerContext(KafkaSettings(), "bench"))
    await consumer.positions(set(range(PARTITIONS)))
    gctune.tune()  # as `streamer consume` does once its consumers have started
    cpu, wall = time.process_time(), time.perf_counter()
    next_offsets: dict[int, int] = {}
    for start in range(0, len(fields), BATCH):
        runs: dict[int, list[EventRecord]] = {}  # as the runner hands them: per partition
        for item in fields[start : start + BATCH]:
            record = EventRecord.parse(**item)  # type: ignore[arg-type]
            runs.setdefault(record.partition, []).append(record)
        for partition, run in runs.items():
            await consumer.handle_batch(run)
            next_offsets[partition] = run[-1].offset + 1
        await consumer.commit(dict(next_offsets), "batch")
    await consumer.commit(dict(next_offsets), "stop")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await consumer.stop()
    table = DeltaTable(uri)
    assert table.count() == len(fields), (table.count(), len(fields))
    return cpu, wall, len(table.file_uris())


async def new_topic(bootstrap: str) -> str:
    """A fresh topic with `PARTITIONS` partitions."""
    topic = f"bench-archive-{os.getpid()}-{time.monotonic_ns()}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    return topic


async def produce(bootstrap: str, topic: str, fields: list[dict[str, object]], rate: float) -> None:
    """Write the records (at `rate` per second when > 0)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await producer.start()
    started = time.monotonic()
    try:
        for n, item in enumerate(fields):
            await producer.send(topic, item["value"], key=item["key"],
                                partition=item["partition"])  # fmt: skip
            if rate and n % 100 == 0:
                await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        await producer.flush()
    finally:
        await producer.stop()


async def bench_runner(
    fields: list[dict[str, object]], uri: str, bootstrap: str, settings: ArchiveSettings,
    rate: float = 0,
) -> tuple[float, float, int]:  # fmt: skip
    """(CPU seconds, wall seconds, data files) to archive `fields` through the real runner."""
    topic = await new_topic(bootstrap)
    if not rate:
        await produce(bootstrap, topic, fields, 0)
    kafka = KafkaSettings(bootstrap_servers=bootstrap, events_topic=topic,
                          dead_letter_topic=f"{topic}-dlq")  # fmt: skip
    runner = Runner(ArchiveConsumer(settings), kafka, group_id=f"{topic}-group")
    async with runner:
        gctune.tune()  # as `streamer consume` does once its runners have started
        task = asyncio.create_task(runner.run())
        cpu, wall = time.process_time(), time.perf_counter()
        if rate:
            await produce(bootstrap, topic, fields, rate)
        while _count(uri) < len(fields):  # noqa: ASYNC110 - polls the table
            await asyncio.sleep(1.0)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        runner.request_stop()
        await task
    return cpu, wall, len(DeltaTable(uri).file_uris())


def _count(uri: str) -> int:
    try:
        return int(DeltaTable(uri).count())
    except Exception:  # noqa: BLE001 - not created yet
        return 0


async def main() -> None:
    """Run the benchmarks the arguments ask for and print their figures."""
    args = parse_args()
    mix = await load_mix(args.sessions, args.mix_secs)
    size = sum(len(b) for _, b in mix) / len(mix)
    print(f"load mix: {len(mix)} events of {len({s for s, _ in mix})} sessions, "
          f"{size:.0f} bytes average")  # fmt: skip
    fields = as_records(mix, args.events, "agents.session-events")
    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        cpu, wall, files = await bench_handler(fields, str(Path(root) / "handler"))
        print(f"handler: {len(fields)} events, {cpu:.2f} CPU-s, {wall:.2f} s wall, {files} files:"
              f" {len(fields) / cpu:,.0f} events per CPU-second")  # fmt: skip
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        if args.kafka:
            uri = str(Path(root) / "runner")
            settings = ArchiveSettings(uri=uri, flush_max_age_secs=args.runner_flush_age_secs)
            cpu, wall, files = await bench_runner(fields, uri, bootstrap, settings)
            print(f"runner+kafka: {len(fields)} events, {cpu:.2f} CPU-s, {wall:.2f} s wall, "
                  f"{files} files: {len(fields) / cpu:,.0f} events per CPU-second")  # fmt: skip
        if args.paced_secs:
            uri = str(Path(root) / "paced")
            paced = fields[: 1000 * args.paced_secs]
            cpu, wall, files = await bench_runner(paced, uri, bootstrap,
                                                  ArchiveSettings(uri=uri), rate=1000)  # fmt: skip
            days = len(DeltaTable(uri).partitions())
            per_hour = files / days * 3600 / wall
            print(f"paced 1000/s: {len(paced)} events in {wall:.1f} s, {files} files in {days} "
                  f"day partition(s): {per_hour:.0f} files per hour per day partition "
                  f"(a file holds all Kafka partitions); CPU share {cpu / wall:.3f}")  # fmt: skip


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--mix-secs", type=float, default=3.0)
    parser.add_argument("--kafka", action="store_true", help="also through the runner and Kafka")
    parser.add_argument("--runner-flush-age-secs", type=float, default=30.0,
                        help="the runner run's ARCHIVE_FLUSH_MAX_AGE_SECS (default the default);"
                        " short, the clock stops soon after the last record, not after an idle"
                        " wait for the age")  # fmt: skip
    parser.add_argument("--paced-secs", type=int, default=0, help="1,000 events/s for N seconds")
    parser.add_argument("--dir", default=None, help="where the tables go (default: the temp dir)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main())
