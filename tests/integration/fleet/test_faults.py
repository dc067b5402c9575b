"""Faults of a fleet of `streamer run` processes: SIGTERM, `kill -9`, SIGSTOP past the timeout.

Simulator over HTTP → three `python -m streamer run` children with the same settings (fleet
enabled, short group session timeout) → real Kafka. Ownership is read from each child's
`agents_streamer_fleet_partitions_owned`. After each fault, the events topic (`read_committed`)
must hold exactly the ground truth's persisted events of every session, each once, in per-session
order.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
import pytest

from simulator import Simulator, SimulatorConfig
from tests.support.flow import injecting
from tests.support.processes import Child, Pipeline
from tests.support.truth import mismatch, read_topic, topic_by_session, truth_by_session
from tests.support.waiting import settled, until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PARTITIONS = 6
SESSION_TIMEOUT_MS = 6000
SESSIONS = 12
_OWNED = re.compile(rb"^agents_streamer_fleet_partitions_owned (\S+)$", re.MULTILINE)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator whose sessions do a few turns at a moderate pace."""
    async with Simulator(SimulatorConfig(scenario="coding", seed=11, speed=100.0)) as simulator:
        yield simulator


def _fleet_env(group: str) -> dict[str, str]:
    return {
        "STREAMER_FLEET_ENABLED": "true",
        "STREAMER_FLEET_GROUP_ID": group,
        "STREAMER_FLEET_PARTITIONS": str(PARTITIONS),
        "STREAMER_FLEET_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
        "STREAMER_FLEET_HEARTBEAT_INTERVAL_MS": "1000",
        "STREAMER_SINK_EVENTS_PARTITIONS": "3",
        "STREAMER_SINK_CHECKPOINTS_PARTITIONS": "3",
        "STREAMER_SINK_COMMIT_INTERVAL_MS": "20",
        "STREAMER_DISCOVERY_INTERVAL_SECS": "0.5",
        "STREAMER_RECONNECT_MAX_SECS": "0.5",
        "STREAMER_STREAM_READ_TIMEOUT_SECS": "3",
        "STREAMER_SHUTDOWN_TIMEOUT_SECS": "20",
    }


async def _fleet(pipeline: Pipeline, count: int) -> list[Child]:
    env = _fleet_env(pipeline.env["CONSUMER_GROUP_PREFIX"] + "streamer")
    children = [pipeline.start(f"streamer-{n}", "run", env=env) for n in range(count)]
    await pipeline.serving()
    return children


async def _owned(children: Sequence[Child]) -> list[int]:
    """Partitions each child owns (-1: not answering, e.g. stopped or gone)."""
    owned = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
        for child in children:
            try:
                async with http.get(f"http://{child.address}/metrics") as response:
                    found = _OWNED.search(await response.read())
            except (aiohttp.ClientError, TimeoutError):
                found = None
            owned.append(int(float(found.group(1))) if found else -1)
    return owned


async def _spread(children: Sequence[Child]) -> list[int]:
    """Wait until `children` share every partition, each owning some; return the split."""
    split = await settled(
        lambda: _owned(children),
        done=lambda o: min(o) > 0 and sum(o) == PARTITIONS,
        timeout_secs=90,
        stable_secs=1.0,
    )
    assert sum(split) == PARTITIONS, (split, children[0].log_tail())
    assert min(split) > 0, (split, children[0].log_tail())
    return split


async def _exactly_once(sim: Simulator, kafka: str, pipeline: Pipeline, ids: list[str]) -> None:
    truth = await settled(
        lambda: truth_by_session(sim.ground_truth(), ids),
        done=lambda t: len(t) == len(ids),
        stable_secs=2.0,
    )
    expected = sum(len(events) for events in truth.values())
    topic = pipeline.env["KAFKA_EVENTS_TOPIC"]
    on_topic = topic_by_session(await read_topic(kafka, topic, expected=expected))
    assert truth == on_topic, mismatch(truth, on_topic)


async def _sessions(sim: Simulator) -> list[str]:
    return [await sim.create_session() for _ in range(SESSIONS)]


async def test_sigterm_moves_sessions_and_loses_nothing(
    sim: Simulator, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Three instances spread the partitions; SIGTERM of one drains and commits it, its
    partitions move to the other two, and every event is on the topic once, in order."""
    session_ids = await _sessions(sim)
    with Pipeline(kafka_bootstrap, sim.base_url, tmp_path / "logs") as pipeline:
        children = await _fleet(pipeline, 3)
        async with injecting(sim, session_ids, per_second=100):
            await _spread(children)
            children[2].terminate()
            await until(lambda: children[2].process.poll() is not None, timeout_secs=60)
            await _spread(children[:2])
        await _exactly_once(sim, kafka_bootstrap, pipeline, session_ids)
        assert children[2].process.returncode == 0, children[2].log_tail()


async def test_kill_9_sessions_resume_on_the_others(
    sim: Simulator, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """`kill -9` of one of three: its partitions are owned again by the two others within the
    group's session timeout plus a few seconds, resumed from checkpoints, nothing lost or
    doubled."""
    session_ids = await _sessions(sim)
    with Pipeline(kafka_bootstrap, sim.base_url, tmp_path / "logs") as pipeline:
        children = await _fleet(pipeline, 3)
        async with injecting(sim, session_ids, per_second=100):
            await _spread(children)
            children[0].process.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            await _spread(children[1:])
            moved_secs = time.monotonic() - killed_at
        await _exactly_once(sim, kafka_bootstrap, pipeline, session_ids)

    print(f"kill -9: partitions owned again after {moved_secs:.1f} s")  # the figure, with -s
    assert moved_secs < SESSION_TIMEOUT_MS / 1000 + 20, moved_secs


async def test_sigstop_past_the_timeout_fences_the_stalled_instance(
    sim: Simulator, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """SIGSTOP of one of three past the session timeout: the others take its partitions; on
    SIGCONT it can no longer commit for them (fenced), drops them, rejoins and carries on; the
    topic holds each event once, in per-session order."""
    session_ids = await _sessions(sim)
    with Pipeline(kafka_bootstrap, sim.base_url, tmp_path / "logs") as pipeline:
        children = await _fleet(pipeline, 3)
        async with injecting(sim, session_ids, per_second=100):
            await _spread(children)
            stalled = children[1]
            stalled.process.send_signal(signal.SIGSTOP)
            try:
                await _spread([children[0], children[2]])  # it missed its heartbeats
            finally:
                stalled.process.send_signal(signal.SIGCONT)
            split = await _spread(children)  # it woke, rejoined and owns partitions again
        await _exactly_once(sim, kafka_bootstrap, pipeline, session_ids)
        assert stalled.process.poll() is None, stalled.log_tail()
        assert min(split) > 0, split
