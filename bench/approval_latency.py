"""Approval latency through the whole loop: the simulator persists a gated tool use -> the
streamer (exactly-once sink) -> Kafka -> the approval bot (a separate process) -> the simulator
persists the bot's `user.tool_confirmation`. Latency = the confirmation's `processed_at` minus the
tool use's `processed_at` (both stamped by the simulator's wall clock).

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 .venv/bin/python bench/approval_latency.py \
        --rates 50 500 --seconds 10 --sessions 200

Tool uses are emitted at a fixed rate, round-robin over idle sessions, each registered as pending
in the simulator (as its engine does) so the simulator accepts the answer. The measurement starts
once the bot answered a probe tool use on each of a few sessions (its start-up, group join and
state read are not measured), then `--warmup` seconds later. The policy allows them
(`bash(ls:*)`), so the path measured is the automatic one.

`--baseline-root DIR` runs the same measurement, in the same invocation, with the bot of another
checkout (e.g. a `git worktree` of the previous release): baseline and current alternate, each in
a fresh set-up (simulator, streamer, topics), so both see the same machine load. `--repeat N`
repeats the whole sequence. `--profile DIR` runs the bot under cProfile (DIR/<label>-bot0.prof).
Every row also says how busy the machine was: the load average and the share of both cores in
use while tool uses were emitted, and the CPU seconds the bot spent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from simulator import Simulator, SimulatorConfig
from simulator.session import Pending
from streamer.config import StreamerSettings
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.service import Service

ROOT = Path(__file__).resolve().parents[1]
BETA = {"anthropic-beta": "managed-agents-2026-04-01", "x-api-key": "bench"}
POLICY = 'version = 1\ndefault = "ask"\n[[allow]]\nrule = "bash(ls:*)"\n'
TICKS = os.sysconf("SC_CLK_TCK")
PROBES = 16  # sessions (hence partitions) the bot must have answered before the measurement


def stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def create_sessions(base_url: str, count: int) -> list[str]:
    async with aiohttp.ClientSession(base_url=base_url, headers=BETA) as http:
        ids = []
        for _ in range(count):
            body = {"agent": "agent_bench", "environment_id": "env_bench"}
            async with http.post("/v1/sessions", json=body) as response:
                ids.append((await response.json())["id"])
        return ids


def emit(sim: Simulator, session_id: str) -> str:
    event = sim.inject(session_id, {
        "type": "agent.tool_use", "name": "bash", "input": {"command": "ls -la"},
        "evaluated_permission": "ask", "evaluation": {"type": "always_ask"},
    })  # fmt: skip
    sim.session(session_id).pending[event["id"]] = Pending("confirmation", event)
    return str(event["id"])


async def run_rate(sim: Simulator, ids: list[str], rate: int, seconds: float) -> list[str]:
    emitted: list[str] = []
    started = time.perf_counter()
    total = int(rate * seconds)
    for n in range(total):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        emitted.append(emit(sim, ids[n % len(ids)]))
    return emitted


@dataclass
class Outcome:
    """What the simulator's history says about one rate's tool uses."""

    latencies_ms: list[float]
    persisted: dict[str, float]
    missing: int
    doubled: int  # tool uses that got more than one confirmation (must be 0)


def outcome(sim: Simulator, ids: list[str], emitted: set[str]) -> Outcome:
    used: dict[str, float] = {}
    answered: dict[str, float] = {}
    counts: Counter[str] = Counter()
    for session_id in ids:
        for event in sim.session(session_id).log.events:
            data = orjson.loads(event.body)
            if data["id"] in emitted:
                used[data["id"]] = stamp(data["processed_at"])
            elif data["type"] == "user.tool_confirmation" and data["tool_use_id"] in emitted:
                answered.setdefault(data["tool_use_id"], stamp(data["processed_at"]))
                counts[data["tool_use_id"]] += 1
    values = [(answered[i] - used[i]) * 1000 for i in answered]
    doubled = sum(1 for n in counts.values() if n > 1)
    return Outcome(values, used, len(emitted) - len(answered), doubled)


async def bot_ready(sim: Simulator, ids: list[str], limit_s: float) -> float:
    """Seconds until the bot answered one tool use on each of `ids`: it has started, joined its
    group and read its state topic, so the measurement that follows does not include start-up."""
    started = time.monotonic()
    for session_id in ids:
        emit(sim, session_id)
    await wait_answered(sim, ids, limit_s)
    return time.monotonic() - started


async def wait_answered(sim: Simulator, ids: list[str], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        waiting = sum(len(sim.session(s).waiting_ids()) for s in ids)
        if waiting == 0:
            return
        await asyncio.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def watch_topic(kafka: KafkaSettings, seen: dict[str, float]) -> None:
    """Record when each event becomes visible to a read_committed reader (the streamer's part)."""
    reader = AIOKafkaConsumer(
        kafka.events_topic, **kafka.client_kwargs(), isolation_level="read_committed",
        auto_offset_reset="earliest", fetch_max_wait_ms=10,
    )  # fmt: skip
    await reader.start()
    try:
        while True:
            batches = await reader.getmany(timeout_ms=20)
            now = time.time()
            for message in (m for batch in batches.values() for m in batch):
                headers = dict(message.headers or ())
                seen.setdefault(headers.get("ce_id", b"").decode(), now)
    finally:
        await reader.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclass(frozen=True)
class Arm:
    """Which bot runs: `label` names it in the output, `root` is its checkout."""

    label: str
    root: Path


async def start_bot(
    arm: Arm, kafka: KafkaSettings, *, base_url: str, workdir: Path, names: tuple[str, str],
    n: int, profile: Path | None,
) -> Any:  # fmt: skip
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_EVENTS_TOPIC": kafka.events_topic,
        "KAFKA_APPROVALS_TOPIC": kafka.approvals_topic,
        "ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": "bench",
        "APPROVALS_STATE_TOPIC": names[0],
        "CONSUMER_POLL_TIMEOUT_MS": "20",
    }  # fmt: skip
    env.pop("PYTHONPATH", None)  # the checkout's own code: `-m` puts the cwd first on the path
    python = [sys.executable]
    if profile is not None:
        python += ["-m", "cProfile", "-o", str(profile / f"{arm.label}-bot{n}.prof")]
    policy = workdir / "policy.toml"
    with (workdir / f"{arm.label}-bot{n}.log").open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            *python, "-m", "streamer", "consume", "approvals", "--policy", str(policy),
            "--group-id", names[1], "--log-level", "warning",
            env=env, cwd=arm.root, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip


def report(arm: Arm, rate: int, emitted: list[str], result: Outcome, *, visible: dict[str, float],
           cpu: float, load: tuple[float, float], busy: float) -> None:  # fmt: skip
    values = result.latencies_ms
    streamer_ms = [(visible[i] - result.persisted[i]) * 1000 for i in emitted if i in visible]
    print(f"bot={arm.label} rate={rate}/s approvals={len(emitted)} answered={len(values)} "
          f"missing={result.missing} doubled={result.doubled} "
          f"p50={statistics.median(values):.1f}ms p95={percentile(values, 0.95):.1f}ms "
          f"p99={percentile(values, 0.99):.1f}ms max={max(values):.1f}ms "
          f"streamer_p50={statistics.median(streamer_ms):.1f}ms "
          f"streamer_p99={percentile(streamer_ms, 0.99):.1f}ms "
          f"bot_cpu={cpu:.2f}s load={load[0]:.1f}->{load[1]:.1f} machine_busy={busy:.0%}",
          flush=True)  # fmt: skip


async def run_arm(args: argparse.Namespace, arm: Arm, bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap, events_topic=f"bench-events-{suffix}",
        approvals_topic=f"bench-approvals-{suffix}", checkpoints_topic=f"bench-ckpt-{suffix}",
        dead_letter_topic=f"bench-dlq-{suffix}",
    )  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="approval-bench-"))
    (workdir / "policy.toml").write_text(POLICY)
    config = SimulatorConfig(scenario="coding", sessions=0, seed=1, speed=1000.0)
    async with Simulator(config) as sim:
        ids = await create_sessions(sim.base_url, args.sessions)
        settings = StreamerSettings(
            base_url=sim.base_url, api_key=SecretStr("bench"), session_ids=tuple(ids),
            discover=False, http_port=0, log_level="warning",
        )  # fmt: skip
        # Its own transactional id: another streamer on a shared broker must not fence this one.
        sink = SinkSettings(transactional_id=f"bench-approvals-{suffix}", api_base_url=sim.base_url)
        async with Service(settings, kafka=kafka, sink_settings=sink):
            names = (f"bench-state-{suffix}", f"bench-group-{suffix}")
            bots = [await start_bot(arm, kafka, base_url=sim.base_url, workdir=workdir,
                                    names=names, n=n, profile=args.profile)
                    for n in range(args.bots)]  # fmt: skip
            visible: dict[str, float] = {}
            watcher = asyncio.create_task(watch_topic(kafka, visible))
            try:
                ready = await bot_ready(sim, ids[:PROBES], limit_s=120)
                print(f"bot={arm.label} ready after {ready:.1f}s", flush=True)
                await asyncio.sleep(args.warmup)
                for rate in args.rates:
                    await measure(sim, ids, rate, seconds=args.seconds, bots=bots, arm=arm,
                                  visible=visible)  # fmt: skip
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
                for bot in bots:
                    bot.terminate()
                    await bot.wait()


async def measure(sim: Simulator, ids: list[str], rate: int, *, seconds: float, bots: list[Any],
                  arm: Arm, visible: dict[str, float]) -> None:  # fmt: skip
    cpu_before = sum(cpu_seconds(b.pid) for b in bots)
    busy_before, load_before = machine_busy(), os.getloadavg()[0]
    emitted = await run_rate(sim, ids, rate, seconds)
    busy_after, load_after = machine_busy(), os.getloadavg()[0]
    await wait_answered(sim, ids, limit_s=120)
    cpu = sum(cpu_seconds(b.pid) for b in bots) - cpu_before
    busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    result = outcome(sim, ids, set(emitted))
    report(arm, rate, emitted, result, visible=visible, cpu=cpu, load=(load_before, load_after),
           busy=busy)  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    arms = [Arm("current", ROOT)]
    if args.baseline_root is not None:
        arms.insert(0, Arm("baseline", args.baseline_root.resolve()))
    for _ in range(args.repeat):
        for arm in arms:
            await run_arm(args, arm, bootstrap)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--bots", type=int, default=1, help="bot replicas (one consumer group)")
    parser.add_argument("--repeat", type=int, default=1, help="run everything N times")
    parser.add_argument("--baseline-root", type=Path, help="also run the bot of this checkout")
    parser.add_argument("--profile", type=Path, help="run the bot under cProfile, into DIR")
    asyncio.run(main(parser.parse_args()))
