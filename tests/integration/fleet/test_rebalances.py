"""Rebalances under stress over the `chaos` scenario: a broker restart in the middle of one, and
a rebalance storm (instances joining and leaving every few seconds, SIGTERM and `kill -9` mixed).

Same set-up as `test_faults.py` (6 control partitions, 6 s group session timeout, chaos sessions
created throughout). After each: the events topic (`read_committed`) holds exactly the ground
truth's persisted events of every session, each once, in per-session order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from simulator import Simulator, SimulatorConfig
from tests.support.fleet import Fleet, chaos_load, chaos_sessions, exactly_once, log_events, spread
from tests.support.kafka import LocalKafka
from tests.support.processes import Child, Pipeline
from tests.support.waiting import until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SESSIONS = 12
STORM_SECS = 30.0
STORM_STEP_SECS = 3.0


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A chaos simulator: tool rounds, approvals, errors, sessions that fail at once."""
    async with Simulator(SimulatorConfig(scenario="chaos", seed=13, speed=100.0)) as simulator:
        yield simulator


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of this test's own (it is stopped and started again: never the shared one)."""
    broker = LocalKafka(tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _assigned(child: Child, since: int) -> bool:
    return any(e.get("event") == "partitions_assigned" for e in log_events(child, since))


async def test_broker_restart_during_a_rebalance(
    sim: Simulator, own_broker: LocalKafka, tmp_path: Path
) -> None:
    """One of three leaves (SIGTERM); as soon as the two others are assigned its partitions
    (their lanes for them are starting), the broker is stopped and started again (same port and
    data). The group settles over the two, and nothing is lost or doubled."""
    session_ids = await chaos_sessions(sim, SESSIONS)
    with Pipeline(own_broker.bootstrap, sim.base_url, tmp_path / "logs") as pipeline:
        fleet = Fleet(pipeline)
        children = await fleet.start(3)
        async with chaos_load(sim, session_ids):
            await spread(children)
            stay = children[:2]
            marks = [c.log.stat().st_size for c in stay]
            fleet.terminate(children[2])
            await until(
                lambda: any(_assigned(c, m) for c, m in zip(stay, marks, strict=True)),
                timeout_secs=60,
            )
            down_at = time.monotonic()
            await asyncio.to_thread(own_broker.stop)
            await asyncio.to_thread(own_broker.start)
            restarted_at = time.monotonic()
            split = await spread(stay)
            settled_secs = time.monotonic() - restarted_at
        short = await exactly_once(sim, pipeline, session_ids, created_from=SESSIONS)

    print(
        f"broker restart mid-rebalance: down and up in {restarted_at - down_at:.1f} s, "
        f"group settled {settled_secs:.1f} s after it was back; {short} short-lived"
    )
    assert sorted(split) == [3, 3], split


async def test_rebalance_storm_loses_and_doubles_nothing(
    sim: Simulator, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """For ~30 s an instance joins or leaves every few seconds (SIGTERM and `kill -9` in
    turn), keeping two to four alive; then the survivors share every partition, the SIGTERMed
    ones exited cleanly, and the topic holds each event once, in per-session order."""
    session_ids = await chaos_sessions(sim, SESSIONS)
    with Pipeline(kafka_bootstrap, sim.base_url, tmp_path / "logs") as pipeline:
        fleet = Fleet(pipeline)
        await fleet.start(3)
        terminated: list[Child] = []  # by SIGTERM
        async with chaos_load(sim, session_ids):
            await spread(fleet.children)
            steps = 0
            ends = time.monotonic() + STORM_SECS
            while time.monotonic() < ends:
                _storm_step(fleet, steps, terminated)
                steps += 1
                await asyncio.sleep(STORM_STEP_SECS)  # the storm's pace, not a proof
            split = await spread(fleet.alive)
        short = await exactly_once(sim, pipeline, session_ids, created_from=SESSIONS)
        await until(lambda: all(c.process.poll() is not None for c in terminated), timeout_secs=30)
        codes = [c.process.returncode for c in terminated]

    started = len(fleet.children)
    print(f"storm: {steps} steps, {started} instances, survivors {split}, {short} short-lived")
    assert codes == [0] * len(terminated), [c.log_tail() for c in terminated]


def _storm_step(fleet: Fleet, step: int, terminated: list[Child]) -> None:
    """Even steps start an instance; odd ones stop the oldest live one, by SIGTERM and by
    `kill -9` in turn. Never fewer than two alive, never more than four."""
    alive = fleet.alive
    if len(alive) < 4 and (step % 2 == 0 or len(alive) <= 2):
        fleet.add()
        return
    victim = alive[0]
    if step % 4 == 1:
        fleet.terminate(victim)
        terminated.append(victim)
    else:
        fleet.kill(victim)
