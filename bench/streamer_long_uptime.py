"""Memory over a long uptime: one streamer process following wave after wave of short sessions.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 .venv/bin/python bench/streamer_long_uptime.py \
        [--waves 5] [--wave-sessions 2000]

Starts the simulator as a separate process (its memory is not counted). Each arm is a fresh
process running a real streamer (KafkaSink on fresh topics, API client, supervisor): wave after
wave, it follows `--wave-sessions` new sessions that each run one short turn and then terminate,
waits until every follower has finished and its checkpoint is committed, and measures. Arms:

- `retention`: the default behaviour, with `STREAMER_SINK_FINISHED_RETENTION_SECS` of 2 s so
  that a bench run spans many retentions (in production: 24 h, and a month is 30 of them);
- `forever`: the retention set beyond the run, i.e. every finished session remembered (what the
  streamer did before the retention existed).

After the first wave and after the last it prints the sink's remembered checkpoints, the Python
heap (`sys.getallocatedblocks`) and RSS. Bounded means: the `retention` arm's figures after the
last wave are those after the first, while `forever` grows with every wave.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import time
import uuid

import aiohttp
import orjson
from pydantic import SecretStr
from streamer_idle_memory import free_port, rss_bytes  # a sibling: bench/ is sys.path[0]

from streamer.api import ApiClient
from streamer.follower import FollowerSettings
from streamer.kafka import metrics
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.kafka.sink import KafkaSink
from streamer.logs import configure_logging
from streamer.supervisor import Supervisor

RETENTION_SECS = 2.0
FOREVER_SECS = 10.0**9


async def new_ended_session(http: aiohttp.ClientSession, base_url: str) -> str:
    """A session created through the simulator's admin API, terminated right after its start."""
    async with http.post(f"{base_url}/_sim/sessions", json={}) as response:
        return str((await response.json())["id"])


async def terminate(http: aiohttp.ClientSession, base_url: str, session_id: str) -> None:
    body = orjson.dumps({"type": "session.status_terminated"})
    url = f"{base_url}/_sim/sessions/{session_id}/inject"
    async with http.post(url, data=body, headers={"content-type": "application/json"}) as r:
        r.raise_for_status()


def remembered() -> int:
    return int(metrics.CHECKPOINTS_REMEMBERED._value.get())


async def wave(
    http: aiohttp.ClientSession, base_url: str, supervisor: Supervisor, size: int, done: list[str]
) -> None:
    """Follow `size` new sessions, terminate each, wait until all have finished."""
    target = len(done) + size
    slots = asyncio.Semaphore(64)

    async def one() -> None:
        async with slots:
            session_id = await new_ended_session(http, base_url)
            supervisor.follow(session_id)
            await asyncio.sleep(0.2)  # let the follower open its stream first, as in life
            await terminate(http, base_url, session_id)

    await asyncio.gather(*(one() for _ in range(size)))
    deadline = time.monotonic() + 600
    while len(done) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{target - len(done)} followers did not finish")
        await asyncio.sleep(0.5)


def measure(label: str, followed: int) -> None:
    gc.collect()
    print(
        f"{label:>10} | sessions followed {followed:>7,} | checkpoints remembered "
        f"{remembered():>7,} | heap blocks {sys.getallocatedblocks():>10,} | "
        f"RSS {rss_bytes() / 2**20:7.1f} MiB",
        flush=True,
    )


async def arm(name: str, base_url: str, bootstrap: str, waves: int, size: int) -> None:
    suffix = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap,
        events_topic=f"bench-events-{suffix}",
        checkpoints_topic=f"bench-checkpoints-{suffix}",
        dead_letter_topic=f"bench-dlq-{suffix}",
    )
    retention = RETENTION_SECS if name == "retention" else FOREVER_SECS
    settings = SinkSettings(transactional_id=f"bench-{suffix}", finished_retention_secs=retention)
    following = FollowerSettings(read_timeout_secs=60.0, finished_retention_secs=retention)
    done: list[str] = []
    async with (
        KafkaSink(kafka, settings) as sink,
        ApiClient(base_url, SecretStr("sk-bench")) as client,
        aiohttp.ClientSession() as http,
        Supervisor(client, sink, following, on_ended=lambda s, _: done.append(s)) as supervisor,
    ):
        for n in range(1, waves + 1):
            await wave(http, base_url, supervisor, size, done)
            await sink.flush()
            if n in (1, waves):
                if name == "retention":
                    await asyncio.sleep(RETENTION_SECS + 0.5)
                    await wave(http, base_url, supervisor, 1, done)  # a batch to expire in
                    await sink.flush()
                measure(name, len(done))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=5)
    parser.add_argument("--wave-sessions", type=int, default=2000)
    parser.add_argument("--arm", choices=["retention", "forever"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_logging("warning")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    if args.arm is not None:
        asyncio.run(arm(args.arm, args.base_url, bootstrap, args.waves, args.wave_sessions))
        return
    port = free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "streamer", "simulate", "--port", str(port), "--sessions", "0",
         "--turns", "1", "--speed", "1000", "--rpm", "0", "--create-rpm", "0",
         "--log-level", "warning"],
    )  # fmt: skip
    try:
        time.sleep(3)
        for name in ("retention", "forever"):
            subprocess.run(
                [sys.executable, __file__, "--arm", name, "--base-url", f"http://127.0.0.1:{port}",
                 "--waves", str(args.waves), "--wave-sessions", str(args.wave_sessions)],
                check=True,
            )  # fmt: skip
    finally:
        sim.terminate()
        sim.wait(timeout=60)


if __name__ == "__main__":
    main()
