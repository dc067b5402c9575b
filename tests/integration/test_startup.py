"""Failures at start, as an operator meets them: `streamer run` and `streamer consume` as processes.

Each case ends with one line on stderr naming the setting to check and a non-zero exit code (1:
gave up on what waiting could fix; 2: a configuration refused), never a traceback; what waiting can
fix is retried until `*_START_TIMEOUT_SECS`, and a process that is retrying stops at once on
SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from simulator import Simulator, SimulatorConfig
from tests.support.kafka import unique_name
from tests.support.prometheus import free_port

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "deploy" / "policies" / "example.toml"
SECRET_KEY = "sk-ant-this-key-must-never-be-printed"
EXIT_TIMEOUT_SECS = 90.0
# What must never reach an operator's terminal at start.
NOISE = ("Traceback", "Future exception was never retrieved", "Task exception was never retrieved",
         "Unclosed", SECRET_KEY)  # fmt: skip


@dataclass
class Ended:
    """How a child ended: its exit code and its standard error."""

    code: int
    err: str

    @property
    def last_line(self) -> str:
        lines = self.err.strip().splitlines()
        return lines[-1] if lines else ""

    def noise(self) -> list[str]:
        return [n for n in NOISE if n in self.err]


def _env(bootstrap: str, base_url: str, **extra: str) -> dict[str, str]:
    kinds = ("events", "checkpoints", "dead_letter", "discovery", "approvals")
    topics = {f"KAFKA_{kind.upper()}_TOPIC": unique_name(kind) for kind in kinds}
    return {**os.environ, **topics, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": SECRET_KEY,
            "STREAMER_SINK_TRANSACTIONAL_ID": unique_name("tx"),
            "CONSUMER_GROUP_PREFIX": unique_name("group") + ".",
            "APPROVALS_STATE_TOPIC": unique_name("state"),
            "METRICS_STATE_TOPIC": unique_name("metrics-state"),
            "STREAMER_HTTP_PORT": "0", **extra}  # fmt: skip


async def _spawn(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer", *args, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _ended(child: asyncio.subprocess.Process) -> Ended:
    try:
        _, err = await asyncio.wait_for(child.communicate(), EXIT_TIMEOUT_SECS)
    finally:
        await _reap(child)
    assert child.returncode is not None
    return Ended(child.returncode, err.decode(errors="replace"))


async def _reap(child: asyncio.subprocess.Process) -> None:
    """Kill `child` if it still runs (a test that failed half-way leaves nothing behind)."""
    if child.returncode is None:
        child.kill()
        await child.wait()


async def _run(env: dict[str, str], *args: str) -> Ended:
    return await _ended(await _spawn(env, *args))


@contextlib.asynccontextmanager
async def _keyed_simulator() -> AsyncIterator[Simulator]:
    """A simulator that accepts only its own key (not SECRET_KEY)."""
    config = SimulatorConfig(scenario="coding", seed=1, api_key=SecretStr("sk-the-right-one"))
    async with Simulator(config) as sim:
        yield sim


async def _wait_for(child: asyncio.subprocess.Process, text: str) -> str:
    """Standard error up to the first line containing `text`."""
    assert child.stderr is not None
    seen = []
    async with asyncio.timeout(EXIT_TIMEOUT_SECS):
        while True:
            line = (await child.stderr.readline()).decode(errors="replace")
            assert line, "the child ended before saying " + text + ":\n" + "".join(seen)
            seen.append(line)
            if text in line:
                return "".join(seen)


async def test_unreachable_kafka_is_retried_until_the_deadline_then_one_line(
    simulator: Simulator,
) -> None:
    """`streamer run` and `streamer consume` retry, then exit 1 naming the address and setting."""
    dead = f"127.0.0.1:{free_port()}"
    env = _env(dead, simulator.base_url, STREAMER_START_TIMEOUT_SECS="2",
               CONSUMER_START_TIMEOUT_SECS="2")  # fmt: skip
    run, consume = await asyncio.gather(
        _run(env, "run", "--session", "sesn_x"), _run(env, "consume", "metrics")
    )

    assert [(1, True, True, True, [])] * 2 == [
        (e.code, e.last_line.startswith(f"streamer {cmd}: cannot reach Kafka at {dead}"),
         "KAFKA_BOOTSTRAP_SERVERS" in e.last_line, "start_retry" in e.err, e.noise())
        for cmd, e in (("run", run), ("consume", consume))
    ]  # fmt: skip


async def test_a_refused_api_key_stops_the_start_at_once_without_showing_it(
    kafka_bootstrap: str,
) -> None:
    """401 from the API: exit 2, one line naming ANTHROPIC_API_KEY, the key itself nowhere."""
    async with _keyed_simulator() as sim:
        env = _env(kafka_bootstrap, sim.base_url, STREAMER_START_TIMEOUT_SECS="60")
        run, bot = await asyncio.gather(
            _run(env, "run", "--session", "sesn_x"),
            _run(env, "consume", "approvals", "--policy", str(POLICY)),
        )

    assert [(2, True, False, [])] * 2 == [
        (e.code, "refused ANTHROPIC_API_KEY" in e.last_line, "start_retry" in e.err, e.noise())
        for e in (run, bot)
    ]


async def test_an_invalid_setting_is_one_line_naming_its_variable(simulator: Simulator) -> None:
    """A value that does not parse, in the runner's, Kafka's or a consumer's own settings, or
    the streamer's: exit 2 at once, one line naming the environment variable, not the value."""
    dead = f"127.0.0.1:{free_port()}"  # never reached: the settings are refused first
    cases = [
        ("CONSUMER_MAX_BATCH_RECORDS", ("consume", "metrics")),
        ("KAFKA_SECURITY_PROTOCOL", ("consume", "metrics")),
        ("ARCHIVE_FLUSH_MAX_AGE_SECS", ("consume", "archive")),
        ("STREAMER_DISCOVERY_INTERVAL_SECS", ("run", "--session", "sesn_x")),
    ]
    ended = await asyncio.gather(
        *(_run(_env(dead, simulator.base_url, **{name: "SECRET-ish"}), *cmd) for name, cmd in cases)
    )

    assert [(2, 1, True, False, [])] * len(cases) == [
        (e.code, len(e.err.strip().splitlines()), f"invalid setting {name} " in e.last_line,
         "SECRET-ish" in e.err, e.noise())
        for (name, _), e in zip(cases, ended, strict=True)
    ], [e.err for e in ended]  # fmt: skip


async def test_a_topic_that_cannot_be_created_is_one_line_naming_it(
    kafka_bootstrap: str, simulator: Simulator
) -> None:
    """The broker refuses the topic (replication 3 on one broker): exit 1, the topic named."""
    env = _env(kafka_bootstrap, simulator.base_url, STREAMER_SINK_REPLICATION_FACTOR="3")
    ended = await _run(env, "run", "--session", "sesn_x")

    assert (1, True, []) == (
        ended.code,
        "cannot create topic" in ended.last_line and env["KAFKA_EVENTS_TOPIC"] in ended.err,
        ended.noise(),
    ), ended.err


async def test_kafka_that_comes_up_late_is_waited_for(
    kafka_bootstrap: str, simulator: Simulator
) -> None:
    """Kafka's address refuses connections at first; once it answers (a forwarder to the real
    broker opens on it), the streamer starts and serves; SIGTERM then ends it with 0."""
    port = free_port()
    env = _env(f"127.0.0.1:{port}", simulator.base_url, STREAMER_START_TIMEOUT_SECS="120")
    child = await _spawn(env, "run", "--session", await simulator.create_session())
    try:
        await _wait_for(child, "start_retry")
        async with _forwarder(port, kafka_bootstrap):
            await _wait_for(child, "streamer_started")
            child.send_signal(signal.SIGTERM)
            ended = await _ended(child)
    finally:
        await _reap(child)

    assert (0, []) == (ended.code, ended.noise())


async def test_sigterm_while_retrying_ends_the_start_at_once(simulator: Simulator) -> None:
    """An orchestrator stopping a process that waits for Kafka gets exit 0, not a hang."""
    env = _env(f"127.0.0.1:{free_port()}", simulator.base_url,
               STREAMER_START_TIMEOUT_SECS="600", CONSUMER_START_TIMEOUT_SECS="600")  # fmt: skip
    ended = []
    for args in (("run", "--session", "sesn_x"), ("consume", "metrics")):
        child = await _spawn(env, *args)
        try:
            await _wait_for(child, "start_retry")
            child.send_signal(signal.SIGTERM)
            ended.append(await _ended(child))
        finally:
            await _reap(child)

    assert [(0, [])] * 2 == [(e.code, e.noise()) for e in ended]


@contextlib.asynccontextmanager
async def _forwarder(port: int, target: str) -> AsyncIterator[None]:
    """Listen on 127.0.0.1:`port` and pipe each connection to `target` (host:port)."""
    host, _, target_port = target.rpartition(":")

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(target_port))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
