"""A fleet of `streamer run` processes under the `chaos` scenario, for the fault tests.

`chaos_load` keeps the simulator busy while a test does its faults: ticks injected into the
sessions made up front, and new chaos sessions created every few tenths of a second, many of
which end (or fail at once) before the next discovery pass. `Fleet` starts children with the same
fleet settings, reads who owns what from their `/metrics`, and `exactly_once` is the check of
the issue: the events topic (`read_committed`) holds the ground truth's persisted events of every
session, each once, in per-session order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path

import aiohttp

from simulator import Simulator
from streamer.fleet.control import partition_of
from tests.support.flow import injecting
from tests.support.processes import Child, Pipeline
from tests.support.truth import events_on_topic, mismatch, settled_truth
from tests.support.waiting import settled, until

PARTITIONS = 6
SESSION_TIMEOUT_MS = 6000
DISCOVERY_INTERVAL_SECS = 0.5
_SAMPLE = r"^{name} (\S+)$"


def fleet_env(group: str) -> dict[str, str]:
    """The settings every instance of one fleet shares (short timeouts, fast discovery)."""
    return {
        "STREAMER_FLEET_ENABLED": "true",
        "STREAMER_FLEET_GROUP_ID": group,
        "STREAMER_FLEET_PARTITIONS": str(PARTITIONS),
        "STREAMER_FLEET_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
        "STREAMER_FLEET_HEARTBEAT_INTERVAL_MS": "1000",
        "STREAMER_SINK_EVENTS_PARTITIONS": "3",
        "STREAMER_SINK_CHECKPOINTS_PARTITIONS": "3",
        "STREAMER_SINK_COMMIT_INTERVAL_MS": "20",
        "STREAMER_DISCOVERY_INTERVAL_SECS": str(DISCOVERY_INTERVAL_SECS),
        "STREAMER_RECONNECT_MAX_SECS": "0.5",
        "STREAMER_STREAM_READ_TIMEOUT_SECS": "3",
        "STREAMER_SHUTDOWN_TIMEOUT_SECS": "20",
    }


class Fleet:
    """`streamer run` children of one group on `pipeline`, numbered in start order."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.env = fleet_env(pipeline.env["CONSUMER_GROUP_PREFIX"] + "streamer")
        self.children: list[Child] = []
        self.stopped: list[Child] = []  # asked to stop (SIGTERM or kill -9)

    def add(self) -> Child:
        """Start one more instance (without waiting for it)."""
        child = self.pipeline.start(f"streamer-{len(self.children)}", "run", env=self.env)
        self.children.append(child)
        return child

    async def start(self, count: int) -> list[Child]:
        """Start `count` instances and wait until each serves `/metrics`."""
        started = [self.add() for _ in range(count)]
        await self.pipeline.serving()
        return started

    def terminate(self, child: Child) -> None:
        """SIGTERM: it drains, commits and leaves the group."""
        child.terminate()
        self.stopped.append(child)

    def kill(self, child: Child) -> None:
        """`kill -9`: its partitions move once the group's session timeout expires."""
        child.process.send_signal(signal.SIGKILL)
        self.stopped.append(child)

    @property
    def alive(self) -> list[Child]:
        """Started, running and not asked to stop."""
        return [c for c in self.children if c.process.poll() is None and c not in self.stopped]


async def metric(child: Child, name: str) -> float | None:
    """One unlabelled sample of `child`'s `/metrics` (None: not answering, or no sample)."""
    pattern = re.compile(_SAMPLE.format(name=re.escape(name)).encode(), re.MULTILINE)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http,
            http.get(f"http://{child.address}/metrics") as response,
        ):
            found = pattern.search(await response.read())
    except (aiohttp.ClientError, TimeoutError):
        return None
    return float(found.group(1)) if found else None


def log_events(child: Child, since: int = 0) -> list[dict[str, object]]:
    """`child`'s JSON log lines from byte offset `since` (other lines skipped)."""
    return _json_lines(child.log, since)


def _json_lines(path: Path, since: int = 0) -> list[dict[str, object]]:
    with path.open("rb") as log:
        log.seek(since)
        lines = log.read().splitlines()
    found = []
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                found.append(record)
    return found


async def owned(children: Sequence[Child]) -> list[int]:
    """Partitions each child owns (-1: not answering, e.g. stopped or gone)."""
    values = [await metric(c, "agents_streamer_fleet_partitions_owned") for c in children]
    return [-1 if v is None else int(v) for v in values]


async def spread(children: Sequence[Child], timeout_secs: float = 90.0) -> list[int]:
    """Wait until `children` share every partition, each owning some; return the split."""

    async def read() -> list[int]:
        return await owned(children)

    def shared(split: list[int]) -> bool:
        return min(split) > 0 and sum(split) == PARTITIONS

    split = await settled(
        read,
        done=shared,
        timeout_secs=timeout_secs,
        stable_secs=1.0,
    )
    tails = "\n".join(c.log_tail() for c in children)
    assert sum(split) == PARTITIONS, (split, tails)
    assert min(split) > 0, (split, tails)
    return split


async def chaos_sessions(sim: Simulator, count: int) -> list[str]:
    return [await sim.create_session(scenario="chaos") for _ in range(count)]


@contextlib.asynccontextmanager
async def chaos_load(
    sim: Simulator, session_ids: list[str], every_secs: float = 0.4
) -> AsyncIterator[list[str]]:
    """Ticks into `session_ids` (100/s) and a new chaos session every `every_secs`, appended to
    `session_ids`, while the block runs, and after it until one of the new sessions has ended
    within one discovery interval (the case the fleet must not miss happened at least once)."""
    made = len(session_ids)

    async def create() -> None:
        while True:
            await asyncio.sleep(every_secs)
            session_ids.append(await sim.create_session(scenario="chaos"))

    task = asyncio.create_task(create())
    try:
        async with injecting(sim, session_ids[:], per_second=100):
            yield session_ids
            await until(lambda: short_lived(sim, session_ids[made:]), timeout_secs=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# What a child's log says about a lane that may explain a doubled or missing event.
_LANE_EVENTS = frozenset(
    {"partitions_assigned", "partitions_released", "partition_fenced", "lane_started",
     "lane_stopped", "lane_start_failed", "lane_failed", "sink_batch_retry", "sink_commit_lost",
     "sink_commit_resolved", "sink_failed", "sink_stop_timeout"}
)  # fmt: skip


def _account(pipeline: Pipeline, truth: dict[str, list[str]], got: dict[str, list[str]]) -> str:
    """For each session that differs: its doubled ids (positions on the topic and in the truth),
    its control partition, and every child's lane events, in time order."""
    differing = sorted(s for s in set(truth) | set(got) if truth.get(s) != got.get(s))
    lines = []
    for session_id in differing:
        want, have = truth.get(session_id, []), got.get(session_id, [])
        for event_id in sorted({i for i in have if have.count(i) > 1}):
            at = [n for n, i in enumerate(have) if i == event_id]
            where = want.index(event_id) if event_id in want else None
            lines.append(f"{session_id} doubled {event_id} at {at} (truth {where}/{len(want)})")
        lines.append(f"{session_id} control partition {partition_of(session_id, PARTITIONS)}")
    for log in sorted(pipeline.log_dir.glob("streamer-*.log")):
        lines += [
            f"{log.stem} {event}"
            for event in _json_lines(log)
            if event.get("event") in _LANE_EVENTS or event.get("session_id") in differing
        ]
    return "\n".join(lines)


def short_lived(sim: Simulator, session_ids: Sequence[str]) -> list[str]:
    """Sessions that ended within one discovery interval of their creation."""

    def secs(stamp: str) -> float:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()

    found = []
    for session_id in session_ids:
        session = sim.session(session_id)
        events = session.log.events
        if session.status == "terminated" and events:
            lived = secs(events[-1].processed_at) - secs(session.created_at)
            if lived < DISCOVERY_INTERVAL_SECS:
                found.append(session_id)
    return found


async def exactly_once(
    sim: Simulator, pipeline: Pipeline, session_ids: Sequence[str], *, created_from: int = 0
) -> int:
    """The events topic holds exactly the ground truth of `session_ids`, each once, in order;
    among the sessions created while the fleet ran (`session_ids[created_from:]`) some ended
    within one discovery interval (some failed at once). Returns how many did."""
    truth = await settled_truth(sim, session_ids)
    bootstrap, topic = pipeline.bootstrap, pipeline.env["KAFKA_EVENTS_TOPIC"]
    on_topic = await events_on_topic(bootstrap, topic, truth)
    assert truth == on_topic, mismatch(truth, on_topic) + "\n" + _account(pipeline, truth, on_topic)
    short = short_lived(sim, session_ids[created_from:])
    assert short, "no session was created and ended between two discovery passes"
    return len(short)
