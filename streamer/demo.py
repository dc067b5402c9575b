"""`streamer demo`: local Kafka + the simulator (or the real API) + the streamer + the approval
bot and the metrics consumer, shown live.

Starts what is missing — a local broker via `deploy/kafka/kafka-local` unless
`KAFKA_BOOTSTRAP_SERVERS` is set, the simulator in-process unless `ANTHROPIC_API_KEY` is set —
runs the streamer on a few dozen sessions and the approval bot (`streamer consume approvals`, a
separate process, with `deploy/policies/example.toml`) and prints, every second, the sessions
followed, the events per second reaching Kafka (read back `read_committed`), the bot's decisions
(from `agents.approvals`) and a tail of recent events; `streamer consume metrics` serves the
fleet's metrics on the `/metrics` address it prints. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
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
DEMO_POLICY = ROOT / "deploy" / "policies" / "example.toml"
SIMULATOR_KEY = "sk-demo-simulator"  # the simulator accepts any key


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sessions", type=int, default=30, help="simulated sessions to start")
    parser.add_argument(
        "--scenario", default="coding", help="simulator scenario (coding: tool approvals)"
    )
    parser.add_argument("--speed", type=float, default=5.0, help="simulator speed-up factor")
    parser.add_argument("--policy", type=Path, default=DEMO_POLICY, help="the bot's policy")
    parser.add_argument(
        "--escalation-timeout-secs",
        type=float,
        default=30.0,
        help="escalations nobody decides are denied after this long (keeps sessions moving)",
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".demo"), help="local state")
    parser.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: ^C)")


def run(args: argparse.Namespace) -> int:
    from streamer.logs import configure_logging  # noqa: PLC0415 - keep `streamer --help` light

    missing = _missing_checkout_parts()
    if missing:
        print(  # noqa: T201
            f"streamer demo: dev tooling that runs from a source checkout ({missing} not found);"
            " clone the repository and run `make demo` there",
            file=sys.stderr,
        )
        return 2
    configure_logging("warning")
    # The demo subscribes to agents.approvals before the bot's first decision creates it; aiokafka
    # reports that as an error every metadata refresh. Nothing else of aiokafka's matters here.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return asyncio.run(_demo(args))


def _missing_checkout_parts() -> str:
    """What of the source checkout the demo needs is absent (empty: all there)."""
    if not KAFKA_LOCAL.exists() and not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return str(KAFKA_LOCAL.relative_to(ROOT))
    if importlib.util.find_spec("simulator") is None and not os.environ.get("ANTHROPIC_API_KEY"):
        return "the `simulator` package"
    return ""


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
        bot_url = stack.enter_context(_approval_bot(base_url, bootstrap, args))
        metrics_url = stack.enter_context(_metrics_consumer(bootstrap, args))
        await _show(service, bootstrap, bot_url, stop, metrics_url)
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
    from simulator import Simulator, SimulatorConfig  # noqa: PLC0415

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
        overrides["api_key"] = SIMULATOR_KEY
    settings = load_settings(http_port=0, **overrides)
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    sink = SinkSettings(
        transactional_id=f"agents-streamer-demo-{os.getpid()}", api_base_url=base_url
    )
    async with Service(settings, kafka=kafka, sink_settings=sink) as service:
        print(f"demo: streamer metrics at {service.http.url}/metrics")  # noqa: T201
        yield service


@contextlib.contextmanager
def _approval_bot(base_url: str, bootstrap: str, args: argparse.Namespace) -> Any:
    """`streamer consume approvals` as a child process; yields its HTTP address."""
    port = _free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ANTHROPIC_BASE_URL": base_url}
    env.setdefault("ANTHROPIC_API_KEY", SIMULATOR_KEY)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "streamer", "consume", "approvals", "--policy",
               str(args.policy), "--http-port", str(port), "--log-level", "warning",
               "--escalation-timeout-secs", str(args.escalation_timeout_secs)]  # fmt: skip
    with (args.data_dir / "approvals.log").open("ab") as log:
        bot = subprocess.Popen(command, env=env, stdout=log, stderr=log)  # noqa: S603
    print(f"demo: approver inbox at http://127.0.0.1:{port}/ui")  # noqa: T201
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        bot.terminate()
        try:
            bot.wait(30)
        except subprocess.TimeoutExpired:
            bot.kill()
            bot.wait()


@contextlib.contextmanager
def _metrics_consumer(bootstrap: str, args: argparse.Namespace) -> Any:
    """`streamer consume metrics` as a child process; prints where its `/metrics` is."""
    port = _free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    command = [sys.executable, "-m", "streamer", "consume", "metrics", "--http-port", str(port),
               "--log-level", "warning"]  # fmt: skip
    with (args.data_dir / "metrics.log").open("ab") as log:
        child = subprocess.Popen(command, env=env, stdout=log, stderr=log)  # noqa: S603
    url = f"http://127.0.0.1:{port}/metrics"
    print(f"demo: metrics consumer at {url}")  # noqa: T201
    try:
        yield url
    finally:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _show(
    service: Any, bootstrap: str, bot_url: str, stop: asyncio.Event, metrics_url: str = ""
) -> None:
    from aiokafka import AIOKafkaConsumer  # noqa: PLC0415

    kafka = service.sink.kafka
    consumer = AIOKafkaConsumer(
        kafka.events_topic,
        kafka.approvals_topic,
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="latest",
    )
    await consumer.start()
    view = _View(bot_url)
    view.tail_command = f"KAFKA_BOOTSTRAP_SERVERS={bootstrap} streamer tail"
    view.metrics_url = metrics_url
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                for message in messages:
                    view.add(message, is_audit=message.topic == kafka.approvals_topic)
            if metrics_url:
                view.tokens = await _tokens_so_far(metrics_url, view.tokens)
            view.render(len(service.supervisor.followed))
    finally:
        await consumer.stop()


async def _tokens_so_far(metrics_url: str, last: int) -> int:
    """The fleet's tokens as the metrics consumer counts them (`last` while it cannot say)."""
    import aiohttp  # noqa: PLC0415
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    try:
        async with (
            aiohttp.ClientSession() as client,
            client.get(metrics_url, timeout=aiohttp.ClientTimeout(total=2)) as response,
        ):
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return last
    return round(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "agents_model_tokens_total"
        )
    )


class _View:
    """What the demo prints: counts, rates and tails of events and approval decisions."""

    def __init__(self, bot_url: str) -> None:
        self.bot_url = bot_url
        self.tail: deque[str] = deque(maxlen=8)
        self.decisions: deque[str] = deque(maxlen=4)
        self.outcomes: dict[str, int] = {}
        self.window: deque[tuple[float, int]] = deque(maxlen=5)
        self.total = 0
        self.metrics_url = ""
        self.tail_command = "streamer tail"
        from streamer.tail.printer import Printer  # noqa: PLC0415 - keep `streamer --help` light
        from streamer.tail.select import Selection  # noqa: PLC0415

        self._printer = Printer(Selection(), width=120)
        self.tokens = 0

    def add(self, message: Any, *, is_audit: bool) -> None:
        if not is_audit:
            self.total += 1
            self.tail.append(_describe(self._printer, message))
            return
        import orjson  # noqa: PLC0415

        audit = orjson.loads(message.value)
        self.outcomes[audit["outcome"]] = self.outcomes.get(audit["outcome"], 0) + 1
        rule = audit["rule"] or "-"
        self.decisions.append(f"{audit['outcome']:<10} {audit['tool']:<10} rule: {rule}")

    def render(self, followed: int) -> None:
        self.window.append((time.monotonic(), self.total))
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())) or "none yet"
        rate = _rate(self.window)
        lines = [
            f"sessions: {followed}  events/s into Kafka: {rate:,.0f}  total: {self.total:,}",
            f"approval bot decisions: {counts}",
            *(f"  {line}" for line in self.decisions),
            f"  escalations: streamer approvals --url {self.bot_url} list",
            f"  inbox (decide in a browser): {self.bot_url}/ui",
            *(
                [f"fleet metrics: {self.metrics_url}  tokens counted: {self.tokens:,}"]
                if self.metrics_url
                else []
            ),
            f"recent events (read_committed; every one, live: {self.tail_command}):",
            *(f"  {line}" for line in self.tail),
            "Ctrl-C to stop",
        ]
        clear = "\x1b[2J\x1b[H" if sys.stdout.isatty() else ""
        print(clear + "\n".join(lines), flush=True)  # noqa: T201


def _describe(printer: Any, message: Any) -> str:
    """The line `streamer tail` prints for the record (time, short session id, type, summary)."""
    return str(printer.render(message).decode("utf-8", "replace").rstrip("\n"))


def _rate(window: deque[tuple[float, int]]) -> float:
    if len(window) < 2:
        return 0.0
    (t0, n0), (t1, n1) = window[0], window[-1]
    return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
