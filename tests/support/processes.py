"""The pipeline as separate processes, the way it is deployed: `streamer run`, `streamer consume`.

`Pipeline` starts `python -m streamer ...` children on unique Kafka topics and consumer groups of
the test broker, each with its own `/metrics` on a free loopback port and a log file, waits until
each one serves, and stops them all (SIGTERM, then SIGKILL) however the test ends.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import aiohttp

from tests.support.kafka import unique_name
from tests.support.prometheus import free_port

API_KEY = "sk-test-key"  # the simulator accepts any key


@dataclass
class Child:
    """One `python -m streamer` child: its job name (for Prometheus), port, log and process."""

    job: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def terminate(self) -> None:
        """Ask the child to stop (SIGTERM), without waiting."""
        if self.process.poll() is None:
            self.process.terminate()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s; safe twice."""
        self.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Pipeline:
    """Children sharing one broker, one API and one set of unique topics."""

    bootstrap: str
    base_url: str
    log_dir: Path
    children: list[Child] = field(default_factory=list)
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        topics = {f"KAFKA_{kind.upper()}_TOPIC": unique_name(kind)
                  for kind in ("events", "checkpoints", "dead_letter", "sessions", "approvals",
                               "deltas")}  # fmt: skip
        self.env = {**os.environ, **topics, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                    "ANTHROPIC_BASE_URL": self.base_url, "ANTHROPIC_API_KEY": API_KEY,
                    "CONSUMER_GROUP_PREFIX": unique_name("group") + ".",
                    "STREAMER_SINK_TRANSACTIONAL_ID": unique_name("tx"),
                    "APPROVALS_STATE_TOPIC": unique_name("approvals-state"),
                    "METRICS_STATE_TOPIC": unique_name("metrics-state")}  # fmt: skip

    def start(self, job: str, *args: str, env: dict[str, str] | None = None) -> Child:
        """`python -m streamer ARGS --http-port N` as a child; `job` names its scrape job."""
        port = free_port()
        log = self.log_dir / f"{job}.log"
        command = [sys.executable, "-m", "streamer", *args, "--http-port", str(port)]
        with log.open("ab") as out:
            process = subprocess.Popen(command, env=self.env | (env or {}), stdout=out, stderr=out)
        child = Child(job, port, log, process)
        self.children.append(child)
        return child

    async def serving(self, limit_secs: float = 60.0) -> None:
        """Wait until every child answers `/metrics`; fail with its log if one exits or hangs."""
        deadline = time.monotonic() + limit_secs
        async with aiohttp.ClientSession() as http:
            for child in self.children:
                while not await _answers(http, child):
                    if child.process.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(f"{child.job} is not serving:\n{child.log_tail()}")
                    await asyncio.sleep(0.2)

    async def expositions(self) -> dict[str, bytes]:
        """Job name -> the `/metrics` body of each child (the last child of a job wins)."""
        bodies = {}
        async with aiohttp.ClientSession() as http:
            for child in self.children:
                async with http.get(f"http://{child.address}/metrics") as response:
                    bodies[child.job] = await response.read()
        return bodies

    def targets(self) -> dict[str, list[str]]:
        """Job name -> addresses, for `LocalPrometheus`."""
        found: dict[str, list[str]] = {}
        for child in self.children:
            found.setdefault(child.job, []).append(child.address)
        return found

    def stop(self) -> None:
        """Stop every child; they shut down in parallel."""
        for child in self.children:
            child.terminate()
        for child in self.children:
            child.stop()

    def __enter__(self) -> Pipeline:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


async def _answers(http: aiohttp.ClientSession, child: Child) -> bool:
    try:
        async with http.get(f"http://{child.address}/metrics") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False
