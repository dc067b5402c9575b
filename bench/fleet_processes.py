"""Processes for `bench/fleet.py`: the simulator and `streamer run` children, their metrics.

Each arm runs on unique topics and a unique consumer group; every child logs to a file in a
temporary directory, and all are ended (SIGTERM, then SIGKILL) however the arm ends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamer_pipeline import cpu_seconds, free_port, http_json, wait_for

PYTHON = sys.executable
_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$", re.MULTILINE)
EVENTS = 'agents_streamer_sink_records_total{topic_kind="events"}'
TRANSACTIONS = 'agents_streamer_sink_transactions_total{outcome="committed"}'

# --- processes -------------------------------------------------------------------------------


@dataclass
class Child:
    """One child process with its log file and, for a streamer, its /metrics port."""

    proc: subprocess.Popen[bytes]
    log: Path
    port: int = 0

    def metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode()
        return {name: float(value) for name, value in _SAMPLE.findall(text)}

    def value(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(raw))
        return lines

    def end(self) -> None:
        """SIGTERM, then SIGKILL after 30 s; print the log's tail if it failed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL, 143):
            sys.stderr.write(self.log.read_text(errors="replace")[-3000:])


@dataclass
class Run:
    """One arm: a temporary log directory, unique topics and group, the children started."""

    bootstrap: str
    base_url: str = ""
    tag: str = field(default_factory=lambda: f"fleetbench-{os.getpid()}-{time.time_ns()}")
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fleetbench-")))
    children: list[Child] = field(default_factory=list)

    def spawn(self, name: str, command: list[str], env: dict[str, str], port: int = 0) -> Child:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=out)
        child = Child(proc, log, port)
        self.children.append(child)
        return child

    def streamer_env(self, fleet: bool, extra: dict[str, str]) -> dict[str, str]:
        t = self.tag
        return {
            "ANTHROPIC_BASE_URL": self.base_url,
            "ANTHROPIC_API_KEY": "bench",
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_EVENTS_TOPIC": f"{t}-events",
            "KAFKA_CHECKPOINTS_TOPIC": f"{t}-checkpoints",
            "KAFKA_DEAD_LETTER_TOPIC": f"{t}-dlq",
            "KAFKA_SESSIONS_TOPIC": f"{t}-sessions",
            "STREAMER_SINK_TRANSACTIONAL_ID": f"{t}-tx",
            "STREAMER_FLEET_ENABLED": "true" if fleet else "false",
            "STREAMER_FLEET_GROUP_ID": f"{t}-group",
            "STREAMER_DISCOVERY_INTERVAL_SECS": "1",
            **extra,
        }

    def streamers(
        self, count: int, fleet: bool, log_level: str, extra: dict[str, str] | None = None
    ) -> list[Child]:
        env = self.streamer_env(fleet, extra or {})
        started = []
        for n in range(count):
            port = free_port()
            command = [PYTHON, "-m", "streamer", "run", "--http-port", str(port),
                       "--log-level", log_level]  # fmt: skip
            started.append(self.spawn(f"streamer-{n}", command, env, port))
        for child in started:
            wait_for(lambda c=child: c.metrics() is not None, 60, "streamer serving")
        return started

    def end(self) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            child.end()


@contextlib.contextmanager
def run(bootstrap: str, sessions: int, sim_args: list[str]) -> Iterator[Run]:
    """A simulator with `sessions` sessions; the streamers the caller starts; all ended after."""
    arm = Run(bootstrap)
    port = free_port()
    command = [PYTHON, "-m", "streamer", "simulate", "--port", str(port), "--sessions",
               str(sessions), "--speed", "1000", "--seed", "1", "--log-level", "warning",
               *sim_args]  # fmt: skip
    arm.spawn("simulator", command, {})
    arm.base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_json(f"{arm.base_url}/v1/sessions?limit=1") is not None, 600, "sim")
        yield arm
    finally:
        arm.end()


def owned(children: list[Child]) -> list[int]:
    """Control partitions each child owns (-1 when it does not answer)."""
    split = []
    for child in children:
        try:
            split.append(int(child.value("agents_streamer_fleet_partitions_owned")))
        except OSError:
            split.append(-1)
    return split


def spread(children: list[Child], partitions: int, timeout: float = 120) -> list[int]:
    """Wait until `children` share every partition, each owning some."""
    wait_for(lambda: min(o := owned(children)) > 0 and sum(o) == partitions, timeout, "spread")
    return owned(children)


def settle(read: Callable[[], Any], stable_secs: float, timeout: float, what: str) -> Any:
    """Wait until `read()` is truthy and unchanged for `stable_secs`; return it."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = read()
        if now != last or not now:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= stable_secs:
            return now
        time.sleep(1)
    raise TimeoutError(what)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def fleet_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        "STREAMER_FLEET_PARTITIONS": str(args.partitions),
        "STREAMER_FLEET_SESSION_TIMEOUT_MS": str(args.session_timeout_ms),
        "STREAMER_FLEET_HEARTBEAT_INTERVAL_MS": str(args.heartbeat_ms),
    }


def followed(children: list[Child]) -> int:
    return int(sum(c.value("agents_streamer_followed_sessions") for c in children))


def ready(child: Child) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{child.port}/readyz", timeout=10) as r:
            return bool(r.status == 200)
    except OSError:
        return False
