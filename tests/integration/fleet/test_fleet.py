"""Several streamers sharing sessions through the control topic's consumer group.

Simulator over HTTP → streamers (fleet enabled) → real Kafka. After joins, graceful leaves and
`kill -9`, the events topic (`read_committed`) must hold exactly the ground truth's persisted
events of every session, each once, in per-session order.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from simulator import Simulator, SimulatorConfig
from streamer.config import load_settings
from streamer.kafka.config import KafkaSettings
from streamer.service import Service
from tests.support.flow import injecting
from tests.support.kafka import unique_name
from tests.support.truth import events_on_topic, mismatch, read_topic, settled_truth
from tests.support.waiting import settled

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PARTITIONS = 4


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator whose sessions do a few turns at a moderate pace."""
    async with Simulator(SimulatorConfig(scenario="coding", seed=7, speed=100.0)) as simulator:
        yield simulator


def _settings(sim: Simulator, kafka: KafkaSettings, tx: str, group: str) -> Any:
    return load_settings(
        base_url=sim.base_url,
        api_key="sk-test",
        http_port=0,
        stream_read_timeout_secs=3.0,
        reconnect_initial_secs=0.05,
        reconnect_max_secs=0.5,
        discovery_interval_secs=0.5,
        kafka=kafka.model_dump(),
        sink={"transactional_id": tx, "events_partitions": 3, "checkpoints_partitions": 3,
              "commit_interval_ms": 20},
        fleet={"enabled": True, "group_id": group, "partitions": PARTITIONS,
               "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
    )  # fmt: skip


def _kafka(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        events_topic=unique_name("events"),
        checkpoints_topic=unique_name("checkpoints"),
        dead_letter_topic=unique_name("dlq"),
        sessions_topic=unique_name("sessions"),
    )


def _owned(*services: Service) -> list[set[int]]:
    return [set(s.fleet.lanes) if s.fleet is not None else set() for s in services]


async def test_one_instance_owns_every_partition(sim: Simulator, kafka_bootstrap: str) -> None:
    """Alone in its group, a streamer follows every discovered session, exactly once."""
    session_ids = [await sim.create_session() for _ in range(5)]
    kafka = _kafka(kafka_bootstrap)
    settings = _settings(sim, kafka, unique_name("tx"), unique_name("group"))
    async with Service(settings) as service:
        truth = await settled_truth(sim, session_ids)
        on_topic = await events_on_topic(kafka.bootstrap_servers, kafka.events_topic, truth)
        owned = _owned(service)

    assert (truth, [set(range(PARTITIONS))]) == (on_topic, owned), mismatch(truth, on_topic)


async def test_sessions_spread_and_move_on_a_graceful_stop(
    sim: Simulator, kafka_bootstrap: str
) -> None:
    """Two instances split the partitions; stopping one moves its sessions to the other, and
    the events topic holds each event once, in per-session order, through the move."""
    session_ids = [await sim.create_session() for _ in range(8)]
    kafka = _kafka(kafka_bootstrap)
    settings = _settings(sim, kafka, unique_name("tx"), unique_name("group"))
    async with Service(settings) as first, Service(settings) as second:
        async with injecting(sim, session_ids, per_second=100):
            split = await settled(
                lambda: _owned(first, second),
                done=lambda o: all(o) and sum(map(len, o)) == PARTITIONS,
                stable_secs=1.0,
            )
            await read_topic(kafka_bootstrap, kafka.events_topic, expected=100, quiet_secs=0)
            await second.stop()  # graceful: drains, commits, leaves the group
            await settled(lambda: _owned(first), done=lambda o: len(o[0]) == PARTITIONS)
            await read_topic(kafka_bootstrap, kafka.events_topic, expected=250, quiet_secs=0)
        truth = await settled_truth(sim, session_ids)
        on_topic = await events_on_topic(kafka.bootstrap_servers, kafka.events_topic, truth)

    assert sorted(map(len, split)) == [2, 2]
    assert truth == on_topic, mismatch(truth, on_topic)


def _env(settings: Any, kafka: KafkaSettings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANTHROPIC_BASE_URL=settings.base_url,
        ANTHROPIC_API_KEY="sk-test",
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
        KAFKA_EVENTS_TOPIC=kafka.events_topic,
        KAFKA_CHECKPOINTS_TOPIC=kafka.checkpoints_topic,
        KAFKA_DEAD_LETTER_TOPIC=kafka.dead_letter_topic,
        KAFKA_SESSIONS_TOPIC=kafka.sessions_topic,
        STREAMER_SINK_TRANSACTIONAL_ID=settings.sink.transactional_id,
        STREAMER_SINK_EVENTS_PARTITIONS="3",
        STREAMER_SINK_CHECKPOINTS_PARTITIONS="3",
        STREAMER_SINK_COMMIT_INTERVAL_MS="20",
        STREAMER_FLEET_ENABLED="true",
        STREAMER_FLEET_GROUP_ID=settings.fleet.group_id,
        STREAMER_FLEET_PARTITIONS=str(PARTITIONS),
        STREAMER_FLEET_SESSION_TIMEOUT_MS="6000",
        STREAMER_FLEET_HEARTBEAT_INTERVAL_MS="1000",
        STREAMER_HTTP_PORT="0",
        STREAMER_DISCOVERY_INTERVAL_SECS="0.5",
        STREAMER_RECONNECT_MAX_SECS="0.5",
        STREAMER_LOG_LEVEL="info",
    )
    return env


async def test_kill_9_moves_sessions_to_the_survivor(
    sim: Simulator, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """`kill -9` of one `streamer run`: the in-process survivor takes its partitions within the
    session timeout plus a few seconds, resumes from checkpoints, and nothing is lost or doubled."""
    session_ids = [await sim.create_session() for _ in range(8)]
    kafka = _kafka(kafka_bootstrap)
    settings = _settings(sim, kafka, unique_name("tx"), unique_name("group"))
    log = tmp_path / "streamer.log"
    async with Service(settings) as survivor:
        with log.open("ab") as out:
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "streamer", "run",
                env=_env(settings, kafka), stdout=out, stderr=out,
            )  # fmt: skip
        try:
            async with injecting(sim, session_ids, per_second=100):
                await settled(
                    lambda: _owned(survivor),
                    done=lambda o: 0 < len(o[0]) < PARTITIONS,
                    stable_secs=1.0,
                )
                await read_topic(kafka_bootstrap, kafka.events_topic, expected=100, quiet_secs=0)
                child.send_signal(signal.SIGKILL)
                await child.wait()
                killed_at = time.monotonic()
                await settled(
                    lambda: _owned(survivor), done=lambda o: len(o[0]) == PARTITIONS, stable_secs=0
                )
                moved_secs = time.monotonic() - killed_at
            truth = await settled_truth(sim, session_ids)
            on_topic = await events_on_topic(kafka.bootstrap_servers, kafka.events_topic, truth)
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()

    print(f"partitions of the killed instance owned again after {moved_secs:.1f} s")
    assert moved_secs < 6.0 + 10.0, log.read_text()[-3000:]
    assert truth == on_topic, mismatch(truth, on_topic)
