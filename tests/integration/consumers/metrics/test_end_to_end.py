"""The metrics consumer end to end: simulator over HTTP -> streamer -> real Kafka ->
`streamer consume metrics` processes -> `/metrics`.

Token totals by type, scraped and summed over replicas, must equal the sum of every
`model_usage` the simulator persisted: exactly, also after `kill -9` of the consumer mid-run and
with two replicas of which one is killed (its partitions move with their totals).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from simulator import Simulator, SimulatorConfig
from streamer.config import load_settings
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.service import Service
from tests.support.kafka import unique_name
from tests.support.metrics import Samples, partition_values, scrape, token_truth, tokens_by_type
from tests.support.waiting import settled

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FOLLOW = {"stream_read_timeout_secs": 3.0, "reconnect_initial_secs": 0.05,
          "reconnect_max_secs": 0.5, "discovery_interval_secs": 0.5, "http_port": 0,
          "api_key": "sk-test"}  # fmt: skip


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """`load` sessions (no tool needs approval) that run for a few seconds each."""
    config = SimulatorConfig(scenario="load", seed=5, speed=1.0, user_turns=4)
    async with Simulator(config) as simulator:
        yield simulator


@pytest.fixture
async def kafka(kafka_bootstrap: str) -> KafkaSettings:
    settings = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        events_topic=unique_name("events"),
        checkpoints_topic=unique_name("checkpoints"),
        dead_letter_topic=unique_name("dlq"),
        approvals_topic=unique_name("approvals"),
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.events_topic, 4, 1),
                                   NewTopic(settings.approvals_topic, 2, 1)])  # fmt: skip
    finally:
        await admin.close()
    return settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Replica:
    """One `streamer consume metrics` process."""

    def __init__(self, kafka: KafkaSettings, group: str, state_topic: str, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        self.env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                    "KAFKA_EVENTS_TOPIC": kafka.events_topic,
                    "KAFKA_APPROVALS_TOPIC": kafka.approvals_topic,
                    "KAFKA_DEAD_LETTER_TOPIC": kafka.dead_letter_topic,
                    "METRICS_STATE_TOPIC": state_topic, "METRICS_FLUSH_INTERVAL_MS": "200",
                    "CONSUMER_POLL_TIMEOUT_MS": "100"}  # fmt: skip
        self.group = group
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> Replica:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "streamer", "consume", "metrics", "--group-id",
                self.group, "--http-port", str(self.port), "--log-level", "warning",
                env=self.env, stdout=out, stderr=out,
            )  # fmt: skip
        return self

    async def samples(self) -> Samples:
        try:
            return await scrape(self.url)
        except OSError:  # not listening yet, or killed
            return {}

    async def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), timeout=60)


async def _tokens(replicas: list[Replica]) -> dict[str, int]:
    return tokens_by_type([await r.samples() for r in replicas])


async def _settled_truth(sim: Simulator, session_ids: list[str]) -> dict[str, int]:
    def done() -> bool:
        return all(sim.session(s).autopilot_done for s in session_ids)

    await settled(done, done=bool, timeout_secs=90)
    return token_truth(sim, session_ids)


async def _until_equal(replicas: list[Replica], truth: dict[str, int]) -> dict[str, int]:
    for _ in range(300):
        got = await _tokens(replicas)
        if got == truth:
            return got
        await asyncio.sleep(0.2)
    return got


def _service(sim: Simulator, kafka: KafkaSettings) -> Service:
    settings = load_settings(base_url=sim.base_url, **FOLLOW)
    sink = SinkSettings(transactional_id=unique_name("tx"), api_base_url=sim.base_url,
                        events_partitions=4, checkpoints_partitions=2,
                        commit_interval_ms=20)  # fmt: skip
    return Service(settings, kafka=kafka, sink_settings=sink)


async def _owned(replica: Replica) -> int:
    """How many events-topic partitions the replica exports (after it loaded their state)."""
    return len(partition_values(await replica.samples(), "agents_sessions"))


async def _until_owned(replicas: list[Replica], counts: list[int]) -> list[int]:
    for _ in range(600):
        owned = sorted([await _owned(r) for r in replicas])
        if owned == counts:
            return owned
        await asyncio.sleep(0.1)
    return owned


async def test_tokens_equal_truth_after_kill_9_mid_run(
    sim: Simulator, kafka: KafkaSettings, tmp_path: Path
) -> None:
    """kill -9 of the consumer while sessions run, a restart: tokens by type equal the truth."""
    group, state = unique_name("metrics"), unique_name("metrics-state")
    log = tmp_path / "metrics.log"
    first = await Replica(kafka, group, state, log).start()
    try:
        await _until_owned([first], [4])  # in the group before the sessions start
        session_ids = [await sim.create_session() for _ in range(6)]
        async with _service(sim, kafka):
            for _ in range(300):  # until the first replica exports some tokens
                if sum((await _tokens([first])).values()):
                    break
                await asyncio.sleep(0.1)
            mid_run = not all(sim.session(s).autopilot_done for s in session_ids)
            await first.kill()
            second = await Replica(kafka, group, state, log).start()
            try:
                truth = await _settled_truth(sim, session_ids)
                got = await _until_equal([second], truth)
                models = {dict(labels).get("model") for (name, labels) in await second.samples()
                          if name == "agents_model_tokens_total"}  # fmt: skip
            finally:
                code = await second.kill(signal.SIGTERM)
    finally:
        await first.kill()
    assert (truth, True, {"claude-sonnet-4-6"}, 0) == (got, mid_run, models, code), log.read_text()[
        -3000:
    ]


async def test_two_replicas_sum_to_truth_and_partitions_move_with_their_totals(
    sim: Simulator, kafka: KafkaSettings, tmp_path: Path
) -> None:
    """Two replicas split the partitions (their sum is the truth); one is killed -9 and the
    other takes its partitions over, each partition's totals never going backwards."""
    group, state = unique_name("metrics"), unique_name("metrics-state")
    log = tmp_path / "metrics.log"
    seen: dict[str, float] = {}  # highest token total seen per partition, on any replica
    backwards: list[str] = []

    async def watch(replicas: list[Replica]) -> None:
        for replica in replicas:
            values = partition_values(await replica.samples(), "agents_model_tokens_total")
            for partition, value in values.items():
                if value < seen.get(partition, 0):
                    backwards.append(f"{partition}: {seen[partition]} -> {value}")
                seen[partition] = max(seen.get(partition, 0), value)

    replicas = [await Replica(kafka, group, state, log).start() for _ in range(2)]
    try:
        owned = await _until_owned(replicas, [2, 2])
        session_ids = [await sim.create_session() for _ in range(6)]
        async with _service(sim, kafka):
            truth = await _settled_truth(sim, session_ids)
            both = await _until_equal(replicas, truth)
            await watch(replicas)
            await replicas[0].kill()
            for _ in range(300):
                await watch(replicas[1:])
                if await _owned(replicas[1]) == 4:
                    break
                await asyncio.sleep(0.2)
            alone = await _until_equal(replicas[1:], truth)
            await watch(replicas[1:])
            code = await replicas[1].kill(signal.SIGTERM)
    finally:
        for replica in replicas:
            await replica.kill()
    assert (truth, truth, [2, 2], [], 0) == (both, alone, owned, backwards, code), log.read_text()[
        -3000:
    ]
