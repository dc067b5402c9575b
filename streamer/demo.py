"""`streamer demo`: local Kafka + the simulator (or the real API) + the streamer, shown live.

Starts what is missing — a local broker via `deploy/kafka/kafka-local` unless
`KAFKA_BOOTSTRAP_SERVERS` is set, the simulator in-process unless `ANTHROPIC_API_KEY` is set —
runs the streamer on a few dozen sessions and prints, every second, the sessions followed, the
events per second reaching Kafka (read back `read_committed`) and a tail of recent events. Ctrl-C
stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KAFKA_LOCAL = ROOT / "deploy" / "kafka" / "kafka-local"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sessions", type=int, default=30, help="simulated sessions to start")
    parser.add_argument("--scenario", default="load", help="simulator scenario (load: steady)")
    parser.add_argument("--speed", type=float, default=2.0, help="simulator speed-up factor")
    parser.add_argument("--data-dir", type=Path, default=Path(".demo"), help="local state")
    parser.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: ^C)")


def run(args: argparse.Namespace) -> int:
    from streamer.logs import configure_logging  # noqa: PLC0415 - keep `streamer --help` light

    configure_logging("warning")
    return asyncio.run(_demo(args))


async def _demo(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.seconds:
        loop.call_later(args.seconds, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        bootstrap = stack.enter_context(_kafka(args.data_dir))
        base_url = await stack.enter_async_context(_api(args))
        service = await stack.enter_async_context(_service(base_url, bootstrap, args))
        await _show(service, bootstrap, stop)
    print("demo: stopped everything it started")  # noqa: T201
    return 0


@contextlib.contextmanager
def _kafka(data_dir: Path) -> Any:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    kafka_dir = (data_dir / "kafka").resolve()
    print("demo: starting local Kafka (first run fetches it from Maven Central)")  # noqa: T201
    started = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [str(KAFKA_LOCAL), "start", "--data-dir", str(kafka_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(  # noqa: S603 - our own script, fixed arguments
            [str(KAFKA_LOCAL), "stop", "--data-dir", str(kafka_dir)],
            capture_output=True,
            check=False,
        )


@contextlib.asynccontextmanager
async def _api(args: argparse.Namespace) -> AsyncIterator[str]:
    if os.environ.get("ANTHROPIC_API_KEY"):
        yield os.environ.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com")
        return
    from streamer.simulator import Simulator, SimulatorConfig  # noqa: PLC0415

    config = SimulatorConfig(
        scenario=args.scenario, sessions=args.sessions, speed=args.speed, user_turns=1000, seed=1
    )
    async with Simulator(config) as sim:
        print(f"demo: simulator at {sim.base_url} with {args.sessions} sessions")  # noqa: T201
        yield sim.base_url


@contextlib.asynccontextmanager
async def _service(base_url: str, bootstrap: str, args: argparse.Namespace) -> AsyncIterator[Any]:
    from streamer.config import load_settings  # noqa: PLC0415
    from streamer.kafka.config import KafkaSettings  # noqa: PLC0415
    from streamer.kafka.settings import SinkSettings  # noqa: PLC0415
    from streamer.service import Service  # noqa: PLC0415

    overrides: dict[str, Any] = {"base_url": base_url, "discovery_interval_secs": 2.0}
    if not os.environ.get("ANTHROPIC_API_KEY"):
        overrides["api_key"] = "sk-demo-simulator"  # the simulator accepts any key
    settings = load_settings(http_port=0, **overrides)
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    sink = SinkSettings(
        transactional_id=f"agents-streamer-demo-{os.getpid()}", api_base_url=base_url
    )
    async with Service(settings, kafka=kafka, sink_settings=sink) as service:
        print(f"demo: streamer metrics at {service.http.url}/metrics")  # noqa: T201
        yield service


async def _show(service: Any, bootstrap: str, stop: asyncio.Event) -> None:
    from aiokafka import AIOKafkaConsumer  # noqa: PLC0415

    consumer = AIOKafkaConsumer(
        service.sink.kafka.events_topic,
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="latest",
    )
    await consumer.start()
    tail: deque[str] = deque(maxlen=8)
    window: deque[tuple[float, int]] = deque(maxlen=5)
    total = 0
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                for message in messages:
                    total += 1
                    tail.append(_describe(message))
            window.append((time.monotonic(), total))
            _render(len(service.supervisor.followed), _rate(window), total, tail)
    finally:
        await consumer.stop()


def _describe(message: Any) -> str:
    headers = {k: bytes(v).decode(errors="replace") for k, v in message.headers or ()}
    return f"{headers.get('ce_time', '?')}  {message.key.decode()}  {headers.get('ce_type', '?')}"


def _rate(window: deque[tuple[float, int]]) -> float:
    if len(window) < 2:
        return 0.0
    (t0, n0), (t1, n1) = window[0], window[-1]
    return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0


def _render(followed: int, rate: float, total: int, tail: deque[str]) -> None:
    lines = [
        f"sessions followed: {followed}   events/s into Kafka: {rate:,.0f}   total: {total:,}",
        "recent events (read_committed):",
        *(f"  {line}" for line in tail),
        "Ctrl-C to stop",
    ]
    clear = "\x1b[2J\x1b[H" if sys.stdout.isatty() else ""
    print(clear + "\n".join(lines), flush=True)  # noqa: T201
