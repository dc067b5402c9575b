"""The sink across a broker outage, on a broker of its own (stopped and started on one port)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from streamer.kafka.settings import SinkSettings
from streamer.kafka.sink import KafkaSink
from tests.integration.streamer.kafka.conftest import (
    difference,
    ids_by_session,
    make_event,
    read_topic,
    settings_for,
    sink_settings,
)
from tests.support.kafka import LocalKafka
from tests.support.waiting import until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SESSIONS = [f"sesn_{n}" for n in range(4)]


class Broker:
    """A private broker that tests may stop and start again on the same port and data."""

    def __init__(self, data_dir: Path) -> None:
        self.kafka = LocalKafka(data_dir, port=_free_port())
        self.running = False

    async def start(self) -> str:
        bootstrap = await asyncio.to_thread(self.kafka.start)
        self.running = True
        return bootstrap

    async def stop(self) -> None:
        await asyncio.to_thread(self.kafka.stop)
        self.running = False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One private broker for this module; stopped at the end."""
    broker = Broker(Path(tmp_path_factory.mktemp("own-kafka")))
    try:
        yield broker
    finally:
        broker.kafka.stop()


@pytest.fixture
async def broker(own_broker: Broker) -> Broker:
    """The private broker, running at the start of the test."""
    if not own_broker.running:
        await own_broker.start()
    return own_broker


def _outage_settings(**overrides: object) -> SinkSettings:
    return sink_settings(
        request_timeout_ms=3000,
        retry_backoff_initial_ms=100,
        retry_backoff_max_ms=1000,
        commit_interval_ms=20,
        **overrides,
    )


async def _publish_all(sink: KafkaSink, count: int) -> None:
    for n in range(count):
        for session in SESSIONS:
            await sink.publish(make_event(session, n))
        await asyncio.sleep(0.005)  # a steady stream that lasts through the outage


def _aborted_transactions() -> float:
    value = REGISTRY.get_sample_value(
        "agents_streamer_sink_transactions_total", {"outcome": "aborted"}
    )
    return value or 0.0


@pytest.mark.parametrize("outage_s", [2, 8], ids=["short", "long"])
async def test_broker_restart_mid_run_loses_and_doubles_nothing(
    broker: Broker, outage_s: float
) -> None:
    """Events published before, during and after a broker restart are each read exactly once,
    in per-session order. A short outage is ridden out by the producer's own retries; a long one
    outlasts the write timeout, so the sink aborts, starts a new producer and writes again."""
    kafka = settings_for(broker.kafka.bootstrap)
    count = 1000
    aborted_before = _aborted_transactions()
    async with KafkaSink(kafka, _outage_settings()) as sink:
        publisher = asyncio.create_task(_publish_all(sink, count))
        try:
            await until(lambda: len(sink._book.committed) == len(SESSIONS))
            await broker.stop()
            await asyncio.sleep(outage_s)  # publishing continues into the buffer meanwhile
            await broker.start()
            await asyncio.wait_for(publisher, 180)
        finally:
            publisher.cancel()
        await asyncio.wait_for(sink.flush(), 180)

    records = await read_topic(
        kafka.bootstrap_servers, kafka.events_topic, expected=count * 4, timeout_s=120
    )

    expected = {s: [make_event(s, n).event_id for n in range(count)] for s in SESSIONS}
    actual = ids_by_session(records)
    if expected != actual:  # say whether the missing records are in the log at all
        raw = await read_topic(
            kafka.bootstrap_servers,
            kafka.events_topic,
            expected=count * 8,
            timeout_s=10,
            isolation_level="read_uncommitted",
        )
        in_log = ids_by_session(raw)
        print("UNCOMMITTED-VIEW", difference(expected, in_log), kafka.events_topic)
    assert expected == actual, difference(expected, actual)
    if outage_s > 6:  # longer than the write timeout (2 x request_timeout_ms)
        assert _aborted_transactions() > aborted_before, "the producer-restart path did not run"


async def test_publish_blocks_and_memory_stays_bounded_while_the_broker_is_down(
    broker: Broker,
) -> None:
    """With the broker down, `publish` blocks once the buffer is full: pending items stay within
    the buffer plus one batch, and everything flows once the broker is back."""
    kafka = settings_for(broker.kafka.bootstrap)
    settings = _outage_settings(buffer_max_events=200, max_batch_events=50)
    async with KafkaSink(kafka, settings) as sink:
        await broker.stop()
        publisher = asyncio.create_task(_publish_all(sink, 250))
        try:
            # The publisher parked in a full buffer: nothing more can get in until it drains.
            await until(lambda: sink.pending >= 200 and sink._buffer.waiting)
            blocked, pending = not publisher.done(), sink.pending
            await broker.start()
            await asyncio.wait_for(publisher, 180)
        finally:
            publisher.cancel()
        await asyncio.wait_for(sink.flush(), 180)

    records = await read_topic(
        kafka.bootstrap_servers, kafka.events_topic, expected=1000, timeout_s=120
    )

    assert (True, True) == (blocked, pending <= 200 + 50)
    assert 1000 == len(records)
