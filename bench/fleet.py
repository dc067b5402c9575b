"""The streamer as a fleet (issue 11, "Speed and scale"): throughput, `kill -9` takeover, memory.

Real processes on loopback: the simulator (`streamer simulate`) and `streamer run` children with
`STREAMER_FLEET_ENABLED=true` on fresh topics and a fresh consumer group of one broker
(`KAFKA_BOOTSTRAP_SERVERS`, or it starts `kafka-local`). CPU is each child's user + system time
from `/proc/<pid>/stat`, RSS its `VmRSS`; events are each child's
`agents_streamer_sink_records_total{topic_kind="events"}` (counted once a transaction commits).

    .venv/bin/python bench/fleet.py throughput --sessions 600 --seconds 30
    .venv/bin/python bench/fleet.py takeover --sessions 600 --rate 6000 --before 20
    .venv/bin/python bench/fleet.py idle --sessions 18000

- throughput: the `load` scenario uncapped; one non-fleet `streamer run` over all sessions, then
  three fleet instances sharing them (fresh simulator each); events per CPU-second per process.
- takeover: three instances at a capped rate; `kill -9` of one; prints when the survivors own
  every partition and when each of the victim's sessions has its first record *created after the
  kill* (Kafka CreateTime, so necessarily by a survivor) read `read_committed` here.
- idle: sessions that do one turn and wait; three instances with no sessions (baseline RSS), then
  three following every session; RSS per process and bytes per idle session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fleet_processes import (
    EVENTS,
    TRANSACTIONS,
    Child,
    Run,
    emit,
    fleet_env,
    followed,
    owned,
    ready,
    run,
    settle,
    spread,
)
from streamer_pipeline import broker, wait_for

# --- throughput ------------------------------------------------------------------------------


def throughput(args: argparse.Namespace, bootstrap: str) -> None:
    """Per arm (`single`: one non-fleet process; `fleet`: N instances), a fresh simulator."""
    rate = args.rate if args.rate is not None else 0.0
    sim_args = ["--scenario", "load", "--rate", str(rate), "--turns", "1000000"]
    for round_ in range(args.rounds):
        for kind in args.arms:
            fleet = kind == "fleet"
            with run(bootstrap, args.sessions, sim_args) as arm:
                count = args.instances if fleet else 1
                children = arm.streamers(count, fleet, args.log_level, fleet_env(args))
                if fleet and not _spread_or_report(children, args, round_):
                    continue
                wait_for(lambda c=children: followed(c) >= args.sessions, 120, "all followed")
                time.sleep(args.warmup)
                emit({"round": round_, **measure_window(arm, children, args.seconds), "arm": kind})


def _spread_or_report(children: list[Child], args: argparse.Namespace, round_: int) -> bool:
    """Wait for the instances to share the partitions; if they never settle, say how often
    each one was assigned partitions meanwhile (a rebalance storm)."""
    try:
        spread(children, args.partitions, timeout=args.spread_timeout)
    except TimeoutError:
        rebalances = [assignments(c) for c in children]
        emit({"round": round_, "arm": "fleet", "spread": False, "rebalances": rebalances})
        return False
    return True


def assignments(child: Child) -> int:
    """How many times the child was assigned partitions (needs --log-level info)."""
    return sum(1 for line in child.log_lines() if line.get("event") == "partitions_assigned")


def _sample(child: Child) -> tuple[float, float, float, int]:
    metrics = child.metrics()
    committed = metrics.get(TRANSACTIONS, 0.0)
    return child.cpu(), metrics.get(EVENTS, 0.0), committed, assignments(child)


def measure_window(arm: Run, children: list[Child], seconds: float) -> dict[str, Any]:
    sim = arm.children[0]
    load0, sim0 = os.getloadavg()[0], sim.cpu()
    before = [_sample(c) for c in children]
    time.sleep(seconds)
    after = [_sample(c) for c in children]
    sim1, load1 = sim.cpu(), os.getloadavg()[0]
    per = []
    for child, (cpu0, ev0, tx0, as0), (cpu1, ev1, tx1, as1) in zip(
        children, before, after, strict=True
    ):
        cpu, events, txs = cpu1 - cpu0, int(ev1 - ev0), int(tx1 - tx0)
        per.append({"sessions": int(child.value("agents_streamer_followed_sessions")),
                    "events": events, "cpu_secs": round(cpu, 2),
                    "events_per_cpu_sec": round(events / cpu) if cpu else None,
                    "transactions": txs, "events_per_transaction": round(events / txs, 1)
                    if txs else None, "rebalances": as1 - as0})  # fmt: skip
    events = sum(p["events"] for p in per)
    cpu = sum(p["cpu_secs"] for p in per)
    return {
        "instances": per,
        "events_per_sec": round(events / seconds),
        "events_per_cpu_sec": round(events / cpu) if cpu else None,
        "simulator_cpu_secs": round(sim1 - sim0, 2),
        "load_average": [round(load0, 1), round(load1, 1)],
    }


# --- takeover after kill -9 ------------------------------------------------------------------


@dataclass
class Tracker:
    """Reads the events topic read_committed: the sessions seen, and per session the moment the
    first record created after `dead_ms` (Kafka CreateTime) was read here."""

    sessions: set[str] = field(default_factory=set)
    dead_ms: float | None = None
    first_after: dict[str, float] = field(default_factory=dict)
    lag_ms: list[float] = field(default_factory=list)  # read time - create time, recent records

    async def read(self, consumer: Any) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=10000)
            now = time.time()
            for records in batches.values():
                for record in records:
                    self._absorb(record.key.decode(), record.timestamp, now)

    def _absorb(self, session_id: str, created_ms: int, now: float) -> None:
        self.sessions.add(session_id)
        if len(self.lag_ms) < 100_000:
            self.lag_ms.append(now * 1000 - created_ms)
        dead = self.dead_ms
        if dead is not None and created_ms > dead and session_id not in self.first_after:
            self.first_after[session_id] = now


@contextlib.asynccontextmanager
async def tracking(bootstrap: str, topic: str) -> AsyncIterator[Tracker]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                isolation_level="read_committed", enable_auto_commit=False,
                                fetch_max_wait_ms=5)  # fmt: skip
    await consumer.start()
    tracker = Tracker()
    task = asyncio.create_task(tracker.read(consumer))
    try:
        yield tracker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


async def topic_records(bootstrap: str, topic: str) -> int:
    """End offset sum of `topic` (records plus transaction markers)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()  # aiokafka has no public call
            parts = consumer.partitions_for_topic(topic) or set()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


def takeover(args: argparse.Namespace, bootstrap: str) -> None:
    rate = args.rate if args.rate is not None else 3000.0
    sim_args = ["--scenario", "load", "--rate", str(rate), "--turns", "1000000"]
    for round_ in range(args.rounds):
        with run(bootstrap, args.sessions, sim_args) as arm:
            children = arm.streamers(3, True, "info", fleet_env(args))
            spread(children, args.partitions)
            wait_for(lambda c=children: followed(c) >= args.sessions, 120, "all followed")
            emit({"round": round_, **asyncio.run(_takeover(arm, children, args))})


async def _takeover(arm: Run, children: list[Child], args: argparse.Namespace) -> dict[str, Any]:
    from streamer.fleet.control import partition_of

    topic = arm.streamer_env(True, {})["KAFKA_EVENTS_TOPIC"]
    async with tracking(arm.bootstrap, topic) as tracker:
        await asyncio.sleep(args.before)
        victim, survivors = children[args.victim], [c for i, c in enumerate(children)
                                                     if i != args.victim]  # fmt: skip
        assigned = [
            line for line in victim.log_lines() if line.get("event") == "partitions_assigned"
        ]
        parts = set(assigned[-1]["partitions"])
        moved = {s for s in tracker.sessions if partition_of(s, args.partitions) in parts}
        checkpoints = await topic_records(arm.bootstrap, f"{arm.tag}-checkpoints")
        lag = statistics.median(tracker.lag_ms[-2000:])
        killed = time.time()
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        tracker.dead_ms = time.time() * 1000
        owned_at = await _owned_again(survivors, args.partitions, killed)
        deadline = time.monotonic() + 300
        while not moved <= tracker.first_after.keys() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)  # the reader task fills `first_after`
    resumed = sorted(tracker.first_after[s] - killed for s in moved if s in tracker.first_after)
    return {
        "victim_partitions": sorted(parts), "moved_sessions": len(moved),
        "resumed_sessions": len(resumed), "checkpoint_topic_offsets_at_kill": checkpoints,
        "reader_lag_ms_before_kill": round(lag, 1),
        "owned_again_secs": round(owned_at - killed, 2),
        "first_resumed_secs": round(resumed[0], 2) if resumed else None,
        "median_resumed_secs": round(statistics.median(resumed), 2) if resumed else None,
        "last_resumed_secs": round(resumed[-1], 2) if resumed else None,
        "lanes_started_secs": _lane_starts(survivors, killed),
    }  # fmt: skip


async def _owned_again(survivors: list[Child], partitions: int, killed: float) -> float:
    while time.time() - killed < 300:
        split = await asyncio.to_thread(owned, survivors)
        if sum(split) == partitions and min(split) > 0:
            return time.time()
        await asyncio.sleep(0.05)
    raise TimeoutError("partitions not owned again")


def _lane_starts(survivors: list[Child], killed: float) -> list[float]:
    """Seconds from the kill to each `lane_started` log line of the survivors after it."""
    from datetime import datetime

    found = []
    for child in survivors:
        for line in child.log_lines():
            if line.get("event") == "lane_started":
                at = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
                if at > killed:
                    found.append(round(at - killed, 2))
    return sorted(found)


# --- idle sessions: memory -------------------------------------------------------------------


def idle(args: argparse.Namespace, bootstrap: str) -> None:
    """Baseline RSS of instances with no sessions, then RSS with every idle session open."""
    sim_args = ["--turns", "1", "--ping-secs", "15"]
    with run(bootstrap, 0, sim_args) as arm:
        children = arm.streamers(args.instances, True, "warning", fleet_env(args))
        spread(children, args.partitions)
        wait_for(lambda: all(ready(c) for c in children), 120, "ready")
        time.sleep(5)
        baseline = [c.rss() for c in children]
    emit({"baseline_rss_mib": [round(r / 2**20, 1) for r in baseline]})
    with run(bootstrap, args.sessions, sim_args) as arm:
        started = time.monotonic()
        children = arm.streamers(args.instances, True, "warning", fleet_env(args))
        spread(children, args.partitions)
        settle(lambda: _all_open(children), 10, 1800, "every followed session open")
        opened = time.monotonic() - started
        settle(lambda: int(sum(c.value(EVENTS) for c in children)), 6, 600, "events settled")
        emit(_idle_figures(arm, children, baseline, opened))


def _all_open(children: list[Child]) -> tuple[int, ...] | None:
    """Open streams per child once each child has a stream open for every session it follows."""
    opened = tuple(int(c.value("agents_streamer_open_streams")) for c in children)
    follows = tuple(int(c.value("agents_streamer_followed_sessions")) for c in children)
    print(f"waiting: open {opened} of followed {follows}", file=sys.stderr, flush=True)
    return opened if opened == follows and min(opened) > 0 else None


def _idle_figures(
    arm: Run, children: list[Child], baseline: list[int], opened: float
) -> dict[str, Any]:
    base = statistics.mean(baseline)
    per = []
    for child in children:
        rss, streams = child.rss(), int(child.value("agents_streamer_open_streams"))
        per.append({"open_streams": streams, "rss_mib": round(rss / 2**20, 1),
                    "bytes_per_idle_session": round((rss - base) / streams)})  # fmt: skip
    total_streams = sum(p["open_streams"] for p in per)
    total_rss = sum(c.rss() for c in children)
    return {
        "instances": per,
        "open_streams": total_streams,
        "events": int(sum(c.value(EVENTS) for c in children)),
        "secs_to_open_all": round(opened, 1),
        "baseline_rss_mib": round(base / 2**20, 1),
        "bytes_per_idle_session": round((total_rss - base * len(children)) / total_streams),
        "simulator_rss_mib": round(arm.children[0].rss() / 2**20, 1),
    }


# --- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["throughput", "takeover", "idle"])
    parser.add_argument("--sessions", type=int, default=600)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=12, help="control-topic partitions")
    parser.add_argument("--session-timeout-ms", type=int, default=10000)
    parser.add_argument("--heartbeat-ms", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--arms",
        nargs="+",
        default=["single", "fleet"],
        choices=["single", "fleet"],
        help="throughput: which, in this order",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="throughput: window")
    parser.add_argument("--warmup", type=float, default=5.0, help="throughput: before the window")
    parser.add_argument(
        "--rate",
        type=float,
        help="simulator events/s (throughput: 0 = uncapped, default; takeover: 3000)",
    )
    parser.add_argument("--before", type=float, default=20.0, help="takeover: secs before kill")
    parser.add_argument("--log-level", default="info", help="throughput: of the streamers")
    parser.add_argument("--spread-timeout", type=float, default=120.0)
    parser.add_argument("--victim", type=int, default=0, help="takeover: which instance")
    return parser.parse_args()  # fmt: skip


def main() -> None:
    args = parse_args()
    with broker() as bootstrap:
        {"throughput": throughput, "takeover": takeover, "idle": idle}[args.mode](args, bootstrap)


if __name__ == "__main__":
    main()
