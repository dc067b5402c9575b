"""The streamer end to end: simulator over HTTP → streamer → real Kafka, under faults.

After each fault the events topic must hold exactly the ground truth's persisted events of the
followed sessions, each once, in per-session order (read back `read_committed`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from simulator import Simulator, SimulatorConfig
from simulator.engine.lifecycle_events import terminate
from streamer.config import load_settings
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.service import Service
from tests.support.flow import injecting
from tests.support.kafka import LocalKafka, unique_name
from tests.support.truth import events_on_topic, mismatch, read_topic, settled_truth
from tests.support.waiting import settled

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FAST_FOLLOW: dict[str, Any] = {
    "stream_read_timeout_secs": 3.0,
    "reconnect_initial_secs": 0.05,
    "reconnect_max_secs": 0.5,
    "discovery_interval_secs": 0.5,
    "http_port": 0,
    "api_key": "sk-test",
}


def _kafka(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        events_topic=unique_name("events"),
        checkpoints_topic=unique_name("checkpoints"),
        dead_letter_topic=unique_name("dlq"),
    )


def _sink(base_url: str, **extra: Any) -> SinkSettings:
    return SinkSettings(
        transactional_id=unique_name("tx"),
        api_base_url=base_url,
        events_partitions=3,
        checkpoints_partitions=3,
        commit_interval_ms=20,
        **extra,
    )


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator whose sessions do a few turns at a moderate pace."""
    async with Simulator(SimulatorConfig(scenario="coding", seed=11, speed=100.0)) as simulator:
        yield simulator


async def test_sessions_reach_kafka_exactly_once(sim: Simulator, kafka_bootstrap: str) -> None:
    """Discovered sessions' events are on the topic, each once, in per-session order."""
    session_ids = [await sim.create_session() for _ in range(6)]
    kafka = _kafka(kafka_bootstrap)
    settings = load_settings(base_url=sim.base_url, **FAST_FOLLOW)
    async with Service(settings, kafka=kafka, sink_settings=_sink(sim.base_url)):
        truth = await settled_truth(sim, session_ids)
        await asyncio.sleep(0)
        on_topic = await events_on_topic(kafka.bootstrap_servers, kafka.events_topic, truth)

    assert truth == on_topic


async def test_stream_and_http_faults_lose_and_double_nothing(
    sim: Simulator, kafka_bootstrap: str
) -> None:
    """Duplicates, malformed frames, invalid UTF-8, cuts, stalls, error frames, 429/529/5xx."""
    faults: list[dict[str, Any]] = [
        {"duplicate_every": 2},
        {"malformed_every": 3, "invalid_utf8_every": 4},
        {"cut_after_frames": 3, "stream_count": 4},
        {"stall_after_frames": 2, "stall_secs": 6.0, "stream_count": 1},
        {"error_after_frames": 3, "stream_count": 3},
        {"http_status": 429, "http_count": 6, "retry_after_secs": 0.3},
        {"http_status": 529, "http_count": 4},
        {"http_status": 503, "http_count": 4, "http_scope": "events_list"},
    ]
    session_ids = [await sim.create_session() for _ in faults]
    for session_id, fault in zip(session_ids, faults, strict=True):
        sim.faults.set(dict(fault), session_id=session_id)
    kafka = _kafka(kafka_bootstrap)
    settings = load_settings(base_url=sim.base_url, session_ids=tuple(session_ids), **FAST_FOLLOW)
    async with Service(settings, kafka=kafka, sink_settings=_sink(sim.base_url)):
        # A live flow, so that the faults hit the streams and not only history.
        async with injecting(sim, session_ids, per_second=200):
            await read_topic(kafka_bootstrap, kafka.events_topic, expected=300, quiet_secs=0)
        truth = await settled_truth(sim, session_ids)
        on_topic = await events_on_topic(kafka.bootstrap_servers, kafka.events_topic, truth)

    assert truth == on_topic, mismatch(truth, on_topic)


async def test_oversized_event_goes_to_the_dead_letter_topic(
    sim: Simulator, kafka_bootstrap: str
) -> None:
    """An event above the topic's max message size is dead-lettered; the stream carries on."""
    session_id = await sim.create_session()
    kafka = _kafka(kafka_bootstrap)
    settings = load_settings(base_url=sim.base_url, session_ids=(session_id,), **FAST_FOLLOW)
    sink = _sink(sim.base_url, max_message_bytes=64 * 1024)
    async with Service(settings, kafka=kafka, sink_settings=sink):
        await settled_truth(sim, [session_id])
        big = sim.inject(
            session_id,
            {"type": "agent.message", "content": [{"type": "text", "text": "x" * 200_000}]},
        )
        sim.inject(session_id, {"type": "test.after_big"})
        truth = await settled_truth(sim, [session_id])
        expected = {session_id: [i for i in truth[session_id] if i != big["id"]]}
        on_topic = await events_on_topic(kafka.bootstrap_servers, kafka.events_topic, expected)
        dead = await read_topic(kafka.bootstrap_servers, kafka.dead_letter_topic, expected=1)

    assert (expected, [big["id"]]) == (on_topic, [r.event_id for r in dead])


async def test_broker_restart_mid_run(sim: Simulator, tmp_path: Path) -> None:
    """Stopping and restarting the broker mid-flow loses and doubles nothing."""
    broker = LocalKafka(tmp_path / "kafka")
    bootstrap = broker.start()
    try:
        session_ids = [await sim.create_session() for _ in range(3)]
        kafka = _kafka(bootstrap)
        settings = load_settings(
            base_url=sim.base_url, session_ids=tuple(session_ids), **FAST_FOLLOW
        )
        async with Service(settings, kafka=kafka, sink_settings=_sink(sim.base_url)):
            async with injecting(sim, session_ids, per_second=60):
                await read_topic(bootstrap, kafka.events_topic, expected=30, quiet_secs=0)
                await asyncio.to_thread(broker.stop)
                await asyncio.sleep(2)  # the flow goes on while the broker is down
                await asyncio.to_thread(broker.start)
                await read_topic(bootstrap, kafka.events_topic, expected=200, quiet_secs=0)
            truth = await settled_truth(sim, session_ids)
            on_topic = await events_on_topic(kafka.bootstrap_servers, kafka.events_topic, truth)
    finally:
        await asyncio.to_thread(broker.stop)

    assert truth == on_topic, mismatch(truth, on_topic)


def _subprocess_env(sim: Simulator, kafka: KafkaSettings, tx: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANTHROPIC_BASE_URL=sim.base_url,
        ANTHROPIC_API_KEY="sk-test",
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
        KAFKA_EVENTS_TOPIC=kafka.events_topic,
        KAFKA_CHECKPOINTS_TOPIC=kafka.checkpoints_topic,
        KAFKA_DEAD_LETTER_TOPIC=kafka.dead_letter_topic,
        STREAMER_SINK_TRANSACTIONAL_ID=tx,
        STREAMER_SINK_EVENTS_PARTITIONS="3",
        STREAMER_SINK_CHECKPOINTS_PARTITIONS="3",
        STREAMER_SINK_COMMIT_INTERVAL_MS="20",
        STREAMER_HTTP_PORT="0",
        STREAMER_DISCOVERY_INTERVAL_SECS="0.5",
        STREAMER_RECONNECT_MAX_SECS="0.5",
        STREAMER_LOG_LEVEL="warning",
    )
    return env


async def _start_streamer(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "streamer", "run", env=env, stdout=out, stderr=out
        )


async def test_kill_9_and_restart(sim: Simulator, kafka_bootstrap: str, tmp_path: Path) -> None:
    """`kill -9` of the streamer mid-flow, then a restart: every event once, in order."""
    session_ids = [await sim.create_session() for _ in range(4)]
    kafka = _kafka(kafka_bootstrap)
    env = _subprocess_env(sim, kafka, unique_name("tx"))
    log = tmp_path / "streamer.log"
    async with injecting(sim, session_ids, per_second=100):
        first = await _start_streamer(env, log)
        try:
            await read_topic(kafka_bootstrap, kafka.events_topic, expected=100, quiet_secs=0)
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        second = await _start_streamer(env, log)
    try:
        truth = await settled_truth(sim, session_ids)
        on_topic = await events_on_topic(kafka.bootstrap_servers, kafka.events_topic, truth)
    finally:
        second.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(second.wait(), timeout=60)

    assert (truth, 0) == (on_topic, code), log.read_text()[-3000:]


async def test_session_that_ended_while_down_is_caught_up(
    sim: Simulator, kafka_bootstrap: str
) -> None:
    """A session terminated while no streamer ran still gets its last events after a restart."""
    session_id = await sim.create_session()
    kafka = _kafka(kafka_bootstrap)
    sink = _sink(sim.base_url)
    settings = load_settings(base_url=sim.base_url, **FAST_FOLLOW)
    async with Service(settings, kafka=kafka, sink_settings=sink):
        await events_on_topic(
            kafka.bootstrap_servers, kafka.events_topic, await settled_truth(sim, [session_id])
        )
    sim.inject(session_id, {"type": "test.while_down"})
    # Terminated for real (status too), so discovery no longer lists it.
    await terminate(sim.session(session_id), sim.core.registry)
    async with Service(settings, kafka=kafka, sink_settings=sink) as service:
        truth = await settled_truth(sim, [session_id])
        on_topic = await events_on_topic(kafka.bootstrap_servers, kafka.events_topic, truth)
        ended = await settled(lambda: dict(service.supervisor.ended), done=bool)

    assert (truth, {session_id: "finished"}) == (on_topic, ended)
