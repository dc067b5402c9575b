"""Memory of idle followed sessions: RSS of one streamer process following N idle sessions.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 .venv/bin/python bench/streamer_idle_memory.py \
        [--sessions 10000]

Starts the simulator as a separate process (so its memory is not counted) with N sessions that
each do one short turn and then wait idle, and a real streamer in this process (KafkaSink on
fresh topics, API client, supervisor with discovery). Measures this process's RSS after start-up
and again once every session has an open stream, history caught up and nothing is flowing.
Prints RSS before/after and bytes per idle session.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from streamer import telemetry
from streamer.api import ApiClient
from streamer.follower import FollowerSettings
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.kafka.sink import KafkaSink
from streamer.logs import configure_logging
from streamer.supervisor import Supervisor


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _open() -> int:
    return int(telemetry.OPEN_STREAMS._value.get())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(predicate: Callable[[], bool], within_secs: float, what: str) -> None:
    deadline = time.monotonic() + within_secs
    while not predicate():
        print(f"waiting: {what}: open={_open()}", flush=True)
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(2)


async def main(sessions: int, bootstrap: str) -> None:
    port = free_port()
    sim = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured part
        [sys.executable, "-m", "streamer", "simulate", "--port", str(port),
         "--sessions", str(sessions), "--turns", "1", "--speed", "1000", "--ping-secs", "15",
         "--log-level", "warning"],
    )  # fmt: skip
    try:
        await asyncio.sleep(3 + sessions / 2000)
        suffix = uuid.uuid4().hex[:8]
        kafka = KafkaSettings(
            bootstrap_servers=bootstrap,
            events_topic=f"bench-events-{suffix}",
            checkpoints_topic=f"bench-checkpoints-{suffix}",
            dead_letter_topic=f"bench-dlq-{suffix}",
        )
        sink = KafkaSink(kafka, SinkSettings(transactional_id=f"bench-{suffix}"))
        settings = FollowerSettings(read_timeout_secs=60.0)
        base_url = f"http://127.0.0.1:{port}"
        async with sink, ApiClient(base_url, SecretStr("sk-bench")) as client:
            supervisor = Supervisor(client, sink, settings, discovery_interval_secs=3600)
            gc.collect()
            before = rss_bytes()
            started = time.monotonic()
            async with supervisor:
                await wait_for(
                    lambda: (
                        supervisor.discovered_once.is_set() and _open() >= len(supervisor.followed)
                    ),
                    within_secs=600,
                    what="all streams open",
                )
                opened = time.monotonic() - started
                last = -1.0
                while (now := telemetry.EVENTS_OUT.value) != last:
                    last = now
                    await asyncio.sleep(3)
                await sink.flush()
                gc.collect()
                after = rss_bytes()
                print(f"sessions followed:     {len(supervisor.followed)}")
                print(f"streams open:          {_open()}")
                print(f"events caught up:      {int(last)}")
                print(f"time to open all:      {opened:.1f} s")
                print(f"RSS before followers:  {before / 2**20:.1f} MiB")
                print(f"RSS with all idle:     {after / 2**20:.1f} MiB")
                print(f"sessions in simulator: {sessions} (terminated ones are not discovered)")
                print(f"bytes per idle session: {(after - before) / _open():,.0f}")
    finally:
        sim.terminate()
        sim.wait(timeout=60)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()
    configure_logging("warning")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    asyncio.run(main(args.sessions, bootstrap))
