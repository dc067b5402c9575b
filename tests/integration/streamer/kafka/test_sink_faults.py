"""The sink under faults on the shared broker: fencing, crashed predecessors, oversize events."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streamer.events import SessionEvent
from streamer.kafka.config import KafkaSettings
from streamer.kafka.errors import SinkFencedError
from tests.integration.streamer.kafka.conftest import (
    SinkFactory,
    ids_by_session,
    make_event,
    read_topic,
    sink_settings,
)

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
