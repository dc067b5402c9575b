"""The streamer end to end: throughput per CPU-second against a naive baseline, and latency.

Every run starts real processes on loopback: the simulator (`streamer simulate`), the streamer
(`streamer run`, exactly-once) or the naive baseline, and reads the events topic `read_committed`
from this process. Needs a broker: `KAFKA_BOOTSTRAP_SERVERS` (or it starts `kafka-local`).

    .venv/bin/python bench/streamer_pipeline.py throughput --sessions 200 --seconds 20
    .venv/bin/python bench/streamer_pipeline.py latency --rates 1000 10000 --seconds 15

- throughput: the simulator's `load` scenario uncapped; events published per CPU-second of the
  streamer process (user + system time from /proc), and the same for the naive baseline (the
  official SDK's stream per session, one `send_and_wait` per event); prints the ratio.
- latency: at a fixed simulator rate, `processed_at` (the simulator's emission) to the moment
  this process reads the record from Kafka (`read_committed`); p50/p99.
Memory per idle session is `bench/streamer_idle_memory.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
HEADERS = {"x-api-key": "bench", "anthropic-beta": "managed-agents-2026-04-01"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def http_json(url: str) -> Any:
    request = urllib.request.Request(url, headers=HEADERS)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=30) as response:
        for line in response.read().decode().splitlines():
            if line.startswith((name + " ", name + "{")):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    raise TimeoutError(what)


@contextlib.contextmanager
def process(
    command: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=log, stderr=log)
        try:
            yield proc
        finally:
            _end(proc, log)


def _end(proc: subprocess.Popen[bytes], log: Any) -> None:
    """SIGTERM, then SIGKILL after 30 s; show the tail of its output if it failed."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.returncode not in (0, -signal.SIGTERM, 143):
        log.seek(0)
        sys.stderr.write(log.read()[-3000:].decode(errors="replace"))


@contextlib.contextmanager
def simulator(sessions: int, scenario: str, rate: float, turns: int) -> Iterator[str]:
    port = free_port()
    command = [
        PYTHON,
        "-m",
        "streamer",
        "simulate",
        "--port",
        str(port),
        "--sessions",
        str(sessions),
        "--scenario",
        scenario,
        "--rate",
        str(rate),
        "--speed",
        "1000",
        "--turns",
        str(turns),
        "--seed",
        "1",
        "--log-level",
        "warning",
    ]
    base_url = f"http://127.0.0.1:{port}"
    with process(command):
        wait_for(lambda: http_json(f"{base_url}/v1/sessions?limit=1") is not None, 60, "simulator")
        yield base_url


@contextlib.contextmanager
def streamer(base_url: str, bootstrap: str, topic: str) -> Iterator[tuple[int, str]]:
    http_port = free_port()
    tag = f"{topic}-{os.getpid()}"
    env = {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "bench",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_EVENTS_TOPIC": topic,
        "KAFKA_CHECKPOINTS_TOPIC": f"{tag}-checkpoints",
        "KAFKA_DEAD_LETTER_TOPIC": f"{tag}-dlq",
        "STREAMER_SINK_TRANSACTIONAL_ID": f"{tag}-tx",
    }
    command = [
        PYTHON,
        "-m",
        "streamer",
        "run",
        "--discovery-interval-secs",
        "1",
        "--http-port",
        str(http_port),
        "--log-level",
        "warning",
    ]
    with process(command, env) as proc:
        metrics_url = f"http://127.0.0.1:{http_port}/metrics"
        wait_for(lambda: metric(metrics_url, "agents_streamer_open_streams") >= 0, 60, "streamer")
        yield proc.pid, metrics_url


@contextlib.contextmanager
def naive(base_url: str, bootstrap: str, topic: str) -> Iterator[tuple[int, str]]:
    command = [
        PYTHON,
        __file__,
        "naive-follower",
        "--base-url",
        base_url,
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
    ]
    with process(command) as proc:
        yield proc.pid, ""


# --- reading the topic -----------------------------------------------------------------------


class Reader:
    """Reads the events topic read_committed; keeps (receive time, processed_at) per record."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.received: list[tuple[float, float]] = []

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Reader]:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=5,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        await consumer.start()
        task = asyncio.create_task(self._read(consumer))
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await consumer.stop()

    async def _read(self, consumer: Any) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=10000)
            now = time.time()
            for records in batches.values():
                for record in records:
                    self.received.append((now, _processed_at(record.value)))

    def count_between(self, start: float, end: float) -> int:
        return sum(1 for received, _ in self.received if start <= received < end)


def _processed_at(value: bytes) -> float:
    stamp = json.loads(value).get("processed_at")
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- the measurements ------------------------------------------------------------------------


async def measure_throughput(args: argparse.Namespace, bootstrap: str, kind: str) -> dict[str, Any]:
    topic = f"bench-{kind}-{os.getpid()}-{int(time.time())}"
    follower = streamer if kind == "streamer" else naive
    with (
        simulator(args.sessions, "load", 0, 1_000_000) as base_url,
        follower(base_url, bootstrap, topic) as (pid, _),
    ):
        async with Reader(bootstrap, topic).running() as reader:
            await asyncio.sleep(args.warmup)
            cpu0, t0 = cpu_seconds(pid), time.time()
            await asyncio.sleep(args.seconds)
            cpu1, t1 = cpu_seconds(pid), time.time()
            events = reader.count_between(t0, t1)
    cpu = cpu1 - cpu0
    return {
        "kind": kind,
        "events": events,
        "wall_secs": round(t1 - t0, 2),
        "events_per_sec": round(events / (t1 - t0)),
        "cpu_secs": round(cpu, 2),
        "events_per_cpu_sec": round(events / cpu) if cpu else None,
    }


async def measure_latency(args: argparse.Namespace, bootstrap: str, rate: float) -> dict[str, Any]:
    topic = f"bench-latency-{os.getpid()}-{int(time.time())}"
    with (
        simulator(args.sessions, "load", rate, 1_000_000) as base_url,
        streamer(base_url, bootstrap, topic),
    ):
        async with Reader(bootstrap, topic).running() as reader:
            await asyncio.sleep(args.warmup)
            t0 = time.time()
            await asyncio.sleep(args.seconds)
            t1 = time.time()
    window = [(r - p) * 1000 for r, p in reader.received if t0 <= p < t1 and r]
    return {
        "rate_eps": rate,
        "events": len(window),
        "achieved_eps": round(len(window) / (t1 - t0)),
        "p50_ms": round(percentile(window, 0.50), 1),
        "p99_ms": round(percentile(window, 0.99), 1),
        "max_ms": round(max(window), 1) if window else None,
    }


# --- the naive baseline ----------------------------------------------------------------------


async def naive_follower(args: argparse.Namespace) -> None:
    """The official SDK's stream per session, one `send_and_wait` per event (no batching)."""
    import anthropic
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, enable_idempotence=True)
    await producer.start()
    following: dict[str, asyncio.Task[None]] = {}

    async def follow(client: anthropic.AsyncAnthropic, session_id: str) -> None:
        stream = await client.beta.sessions.events.stream(session_id)
        async with stream:
            async for event in stream:
                value = event.to_json(indent=None).encode()
                await producer.send_and_wait(args.topic, value, key=session_id.encode())

    async with anthropic.AsyncAnthropic(api_key="bench", base_url=args.base_url) as client:
        try:
            while True:
                async for session in client.beta.sessions.list(limit=1000):
                    if session.id not in following:
                        following[session.id] = asyncio.create_task(follow(client, session.id))
                await asyncio.sleep(1)
        finally:
            for task in following.values():
                task.cancel()
            await asyncio.gather(*following.values(), return_exceptions=True)
            await producer.stop()


# --- main ------------------------------------------------------------------------------------


@contextlib.contextmanager
def broker() -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    sys.path.insert(0, str(ROOT))
    from tests.support.kafka import LocalKafka

    with tempfile.TemporaryDirectory() as data_dir:
        kafka = LocalKafka(Path(data_dir))
        try:
            yield kafka.start()
        finally:
            kafka.stop()


async def main(args: argparse.Namespace) -> None:
    if args.mode == "naive-follower":
        await naive_follower(args)
        return
    with broker() as bootstrap:
        if args.mode == "throughput":
            ours = await measure_throughput(args, bootstrap, "streamer")
            print(json.dumps(ours), flush=True)
            if args.streamer_only:
                return
            base = await measure_throughput(args, bootstrap, "naive")
            print(json.dumps(base), flush=True)
            ratio = ours["events_per_cpu_sec"] / base["events_per_cpu_sec"]
            print(json.dumps({"ratio_events_per_cpu_sec": round(ratio, 1)}))
        else:
            for rate in args.rates:
                print(json.dumps(await measure_latency(args, bootstrap, rate)), flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["throughput", "latency", "naive-follower"])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--streamer-only", action="store_true", help="throughput: skip the naive baseline"
    )
    parser.add_argument("--rates", type=float, nargs="+", default=[1000.0, 10000.0])
    parser.add_argument("--base-url", default="")
    parser.add_argument("--bootstrap", default="")
    parser.add_argument("--topic", default="")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
