"""The sink under faults on the shared broker: fencing, crashed predecessors, oversize events."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError

from streamer.events import SessionEvent
from streamer.kafka.admin import load_checkpoints
from streamer.kafka.config import KafkaSettings
from streamer.kafka.errors import SinkFencedError, SinkTransientError
from streamer.kafka.records import OutRecord
from streamer.kafka.sink import KafkaSink
from streamer.kafka.writers import BeforeCommit, Marker, TransactionalWriter
from tests.integration.streamer.kafka.conftest import (
    SinkFactory,
    WrappedWriter,
    ids_by_session,
    make_event,
    read_topic,
    sink_settings,
    wrap_writer,
)
from tests.support.kafka import unique_name
from tests.support.waiting import until

pytestmark = pytest.mark.kafka


async def test_successor_aborts_a_crashed_producers_open_transaction(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """A producer that dies mid-transaction leaves nothing visible: the sink starting with the
    same transactional id aborts it at once, and only the sink's own events are read."""
    settings = sink_settings()
    async with make_sink(settings):  # creates the topics
        pass
    crashed = AIOKafkaProducer(
        bootstrap_servers=kafka_settings.bootstrap_servers,
        transactional_id=settings.transactional_id,
    )
    await crashed.start()
    await crashed.begin_transaction()
    for n in range(5):
        await crashed.send_and_wait(
            kafka_settings.events_topic,
            b'{"ghost":true}',
            key=b"sesn_a",
            headers=[("ce_id", f"ghost_{n}".encode())],
        )
    await crashed.stop()  # abandoned: the transaction stays open on the broker

    async with make_sink(settings) as successor:
        await successor.publish(make_event("sesn_a", 1))
        await successor.flush()

    records = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.events_topic, expected=1, timeout_s=30
    )

    assert {"sesn_a": [make_event("sesn_a", 1).event_id]} == ids_by_session(records)


async def test_a_fenced_sink_stops_and_publish_raises(make_sink: SinkFactory) -> None:
    """When a second instance claims the same transactional id, the first one's next commit is
    fenced: it stops loudly and `publish` raises SinkFencedError."""
    settings = sink_settings(commit_interval_ms=10)
    async with make_sink(settings) as first:
        await first.publish(make_event("sesn_a", 1))
        await first.flush()
        async with make_sink(settings):
            await first.publish(make_event("sesn_a", 2))
            with pytest.raises(SinkFencedError):
                await asyncio.wait_for(first.flush(), 60)
            with pytest.raises(SinkFencedError):
                await first.publish(make_event("sesn_a", 3))


class StallsThenTimesOut(WrappedWriter):
    """A transactional writer whose `stall`-th write sends its records, waits for `resume`
    (meanwhile a successor takes the transactional id over), then fails as a request timeout
    does: a transient error, the kind a sink retries on a new producer."""

    def __init__(self, inner: TransactionalWriter, stall: int) -> None:
        super().__init__(inner)
        self.stall = stall
        self.stalled = asyncio.Event()
        self.resume = asyncio.Event()

    async def write(
        self,
        events: Iterable[OutRecord],
        checkpoints: list[OutRecord],
        before_commit: BeforeCommit | None = None,
    ) -> Marker | None:
        self.writes += 1
        if self.writes != self.stall:
            return await self.inner.write(events, checkpoints, before_commit)
        await self.inner.producer.begin_transaction()
        await self.inner.send_all(itertools.chain(events, checkpoints))
        self.stalled.set()
        await self.resume.wait()
        raise KafkaTimeoutError("the commit timed out")


async def test_a_lane_sink_fails_rather_than_fence_its_successor(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """A sink built with `recover=False` (a fleet lane's) whose write fails transiently after
    its partition moved stops (`publish` raises) instead of retrying on a new producer: that
    producer would fence the successor and write the batch the successor has published since
    it loaded the checkpoints. Each event is on the topic once; the successor goes on."""
    settings = sink_settings(commit_interval_ms=10)
    async with KafkaSink(kafka_settings, settings, recover=False) as zombie:
        writer = wrap_writer(zombie, lambda inner: StallsThenTimesOut(inner, stall=2))
        await zombie.publish(make_event("sesn_a", 1))
        await zombie.flush()
        await zombie.publish(make_event("sesn_a", 2))
        await until(writer.stalled.is_set)
        async with make_sink(settings) as successor:  # aborts the zombie's open transaction
            loaded = successor.checkpoint("sesn_a")
            for n in (2, 3):
                await successor.publish(make_event("sesn_a", n))
            await successor.flush()
            writer.resume.set()
            with pytest.raises(SinkTransientError):
                await asyncio.wait_for(zombie.flush(), 60)
            await successor.publish(make_event("sesn_a", 4))
            await successor.flush()  # not fenced by the zombie

    records = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.events_topic, expected=4, timeout_s=30
    )

    assert loaded is not None
    assert loaded.boundary_ids == (make_event("sesn_a", 1).event_id,)
    want = [make_event("sesn_a", n).event_id for n in (1, 2, 3, 4)]
    assert {"sesn_a": want} == ids_by_session(records)
    assert writer.writes == 2  # no second producer, no write after the failure


async def test_checkpoints_behind_another_producers_open_transaction_are_loaded(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """On checkpoints partitions several transactional producers share (a fleet's lanes), a
    committed checkpoint can lie beyond the last stable offset, behind another producer's
    transaction still open: loading waits for that transaction to end and finds it."""
    settings = sink_settings()
    topic, partitions = kafka_settings.checkpoints_topic, settings.checkpoints_partitions
    other = AIOKafkaProducer(
        bootstrap_servers=kafka_settings.bootstrap_servers, transactional_id=unique_name("tx")
    )
    await other.start()
    try:
        async with make_sink(settings) as sink:
            await other.begin_transaction()
            for partition in range(partitions):
                await other.send_and_wait(topic, b"{}", key=b"other", partition=partition)
            await sink.publish(make_event("sesn_a", 1))
            await sink.flush()  # committed after the other's open records
            loading = asyncio.create_task(load_checkpoints(kafka_settings, topic, partitions))
            await asyncio.sleep(2)  # long enough for a reader that stops at the stable offset
            await other.abort_transaction()
            loaded = await asyncio.wait_for(loading, 60)
    finally:
        await other.stop()

    assert "sesn_a" in loaded, loaded
    assert loaded["sesn_a"].boundary_ids == (make_event("sesn_a", 1).event_id,)


async def test_oversize_event_goes_to_dead_letter_and_the_stream_continues(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """An event over the events topic's limit is routed to the dead-letter topic with its
    identity and reason in headers; the events around it are published normally."""
    big = SessionEvent(
        "sesn_a",
        "sevt_big",
        "agent.message",
        make_event("sesn_a", 2).processed_at,
        orjson.dumps({"type": "agent.message", "text": "x" * 5000}),
    )
    async with make_sink(sink_settings(max_message_bytes=4096)) as sink:
        await sink.publish(make_event("sesn_a", 1))
        await sink.publish(big)
        await sink.publish(make_event("sesn_a", 3))
        await sink.flush()
        checkpoint = (await sink.checkpoints())["sesn_a"]

    events = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.events_topic, expected=2
    )
    [dead] = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.dead_letter_topic, expected=1
    )

    assert [make_event("sesn_a", n).event_id for n in (1, 3)] == ids_by_session(events)["sesn_a"]
    assert (big.raw, b"message_too_large", b"sevt_big", b"agent.message", b"sesn_a") == (
        dead.value,
        dead.headers["dlq_reason"],
        dead.headers["ce_id"],
        dead.headers["ce_type"],
        dead.headers["ce_subject"],
    )
    assert (make_event("sesn_a", 3).event_id,) == checkpoint.boundary_ids


async def test_event_too_large_even_for_dead_letters_becomes_a_summary(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """An event over the dead-letter topic's limit too is recorded there as a JSON summary."""
    big = SessionEvent(
        "sesn_a",
        "sevt_huge",
        "agent.message",
        make_event("sesn_a", 2).processed_at,
        orjson.dumps({"type": "agent.message", "text": "x" * 20000}),
    )
    settings = sink_settings(max_message_bytes=4096, dead_letter_max_message_bytes=8192)
    async with make_sink(settings) as sink:
        await sink.publish(big)
        await sink.flush()

    [dead] = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.dead_letter_topic, expected=1
    )
    summary = orjson.loads(dead.value)

    assert (b"true", "sevt_huge", len(big.raw)) == (
        dead.headers["dlq_truncated"],
        summary["event_id"],
        summary["size_bytes"],
    )
