"""Faults of a fleet of `streamer run` processes over the `chaos` scenario: SIGTERM, `kill -9`,
SIGSTOP past the timeout, a fourth instance joining mid-run.

Simulator over HTTP → three `python -m streamer run` children with the same settings (fleet
enabled, 6 control partitions, 6 s group session timeout) → real Kafka. Chaos sessions keep being
created during the run, many of them ending (some failing at once) between two discovery passes.
Ownership is read from each child's `agents_streamer_fleet_partitions_owned`. After each fault,
the events topic (`read_committed`) must hold exactly the ground truth's persisted events of every
session, each once, in per-session order.
"""

from __future__ import annotations

import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from simulator import Simulator, SimulatorConfig
from tests.support.fleet import (
    SESSION_TIMEOUT_MS,
    Fleet,
    chaos_load,
    chaos_sessions,
    exactly_once,
    log_events,
    metric,
    spread,
)
from tests.support.processes import Child, Pipeline
from tests.support.waiting import until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SESSIONS = 12


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A chaos simulator: tool rounds, approvals, errors, sessions that fail at once."""
    async with Simulator(SimulatorConfig(scenario="chaos", seed=11, speed=100.0)) as simulator:
        yield simulator


async def test_sigterm_moves_sessions_and_loses_nothing(
    sim: Simulator, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Three instances spread the partitions; SIGTERM of one drains and commits it, its
    partitions move to the other two, and every event is on the topic once, in order."""
    session_ids = await chaos_sessions(sim, SESSIONS)
    with Pipeline(kafka_bootstrap, sim.base_url, tmp_path / "logs") as pipeline:
        fleet = Fleet(pipeline)
        children = await fleet.start(3)
        async with chaos_load(sim, session_ids):
            await spread(children)
            children[2].terminate()
            await until(lambda: children[2].process.poll() is not None, timeout_secs=60)
            await spread(children[:2])
        short = await exactly_once(sim, pipeline, session_ids, created_from=SESSIONS)
        assert children[2].process.returncode == 0, children[2].log_tail()
    print(f"SIGTERM: {len(session_ids)} sessions, {short} short-lived")


async def test_kill_9_sessions_resume_on_the_others(
    sim: Simulator, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """`kill -9` of one of three: its partitions are owned again by the two others within the
    group's session timeout plus a few seconds, resumed from checkpoints, nothing lost or
    doubled."""
    session_ids = await chaos_sessions(sim, SESSIONS)
    with Pipeline(kafka_bootstrap, sim.base_url, tmp_path / "logs") as pipeline:
        children = await Fleet(pipeline).start(3)
        async with chaos_load(sim, session_ids):
            await spread(children)
            children[0].process.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            await spread(children[1:])
            moved_secs = time.monotonic() - killed_at
        short = await exactly_once(sim, pipeline, session_ids, created_from=SESSIONS)

    print(f"kill -9: owned again after {moved_secs:.1f} s; {short} short-lived")  # with -s
    assert moved_secs < SESSION_TIMEOUT_MS / 1000 + 20, moved_secs


async def test_sigstop_past_the_timeout_fences_the_stalled_instance(
    sim: Simulator, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """SIGSTOP of one of three past the session timeout: the others take its partitions (their
    sinks fence its producers). On SIGCONT, before it owns anything again, it drops every
    partition it had (told by the group, or fenced at its next commit: `partition_fenced`),
    then rejoins and carries on (ready, publishing again); each event is on the topic once."""
    session_ids = await chaos_sessions(sim, SESSIONS)
    with Pipeline(kafka_bootstrap, sim.base_url, tmp_path / "logs") as pipeline:
        children = await Fleet(pipeline).start(3)
        stalled = children[1]
        async with chaos_load(sim, session_ids):
            await spread(children)
            had = _events(stalled, "partitions_assigned")[-1]["partitions"]
            mark = stalled.log.stat().st_size
            stalled.process.send_signal(signal.SIGSTOP)
            try:
                await spread([children[0], children[2]])  # it missed its heartbeats
            finally:
                stalled.process.send_signal(signal.SIGCONT)
            woke_at = time.monotonic()
            await until(lambda: _events(stalled, "partitions_released", mark), timeout_secs=30)
            dropped_secs = time.monotonic() - woke_at
            split = await spread(children)  # it woke, rejoined and owns partitions again
            published = await _published(stalled)
            await until(lambda: _published_beyond(stalled, published), timeout_secs=30)
            await until(lambda: _ready(stalled), timeout_secs=30)
        short = await exactly_once(sim, pipeline, session_ids, created_from=SESSIONS)
        after = [e for e in log_events(stalled, mark) if str(e["event"]).startswith("partitions_")]
        fenced = await _fenced(stalled)
        assert stalled.process.poll() is None, stalled.log_tail()

    print(f"SIGSTOP: dropped {had} {dropped_secs:.1f} s after SIGCONT, fenced counted: {fenced}")
    print(f"SIGSTOP: {len(session_ids)} sessions, {short} short-lived")
    # Fenced lanes go one by one (`partition_fenced`), the group's verdict takes the rest.
    reassigned = next(i for i, e in enumerate(after) if e["event"] == "partitions_assigned")
    released = {p for e in after[:reassigned] for p in e["partitions"]}
    assert reassigned > 0, after
    assert released == set(had), after
    assert min(split) > 0, split


async def test_a_fourth_instance_joins_mid_run(
    sim: Simulator, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A fourth instance started while three stream takes partitions from them (they hand
    them over committed), and nothing is lost or doubled through the move."""
    session_ids = await chaos_sessions(sim, SESSIONS)
    with Pipeline(kafka_bootstrap, sim.base_url, tmp_path / "logs") as pipeline:
        fleet = Fleet(pipeline)
        children = await fleet.start(3)
        async with chaos_load(sim, session_ids):
            await spread(children)
            joined_at = time.monotonic()
            fourth = fleet.add()
            split = await spread([*children, fourth])
            joined_secs = time.monotonic() - joined_at
        short = await exactly_once(sim, pipeline, session_ids, created_from=SESSIONS)

    print(f"fourth: owns partitions {joined_secs:.1f} s after its start; {short} short-lived")
    assert sorted(split) == [1, 1, 2, 2], split


FENCED = 'agents_streamer_errors_total{kind="partition_fenced"}'
PUBLISHED = "agents_streamer_events_published_total"


def _events(child: Child, name: str, since: int = 0) -> list[dict[str, object]]:
    return [e for e in log_events(child, since) if e.get("event") == name]


async def _ready(child: Child) -> bool:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http,
        http.get(f"http://{child.address}/readyz") as response,
    ):
        return response.status == 200


async def _fenced(child: Child) -> bool:
    """Whether `child` counted a partition it was fenced for."""
    return (await metric(child, FENCED) or 0) > 0


async def _published(child: Child) -> float:
    return await metric(child, PUBLISHED) or 0.0


async def _published_beyond(child: Child, before: float) -> bool:
    """Whether `child` handed more events to its sinks than `before` (it carries on)."""
    return await _published(child) > before
