"""Confirming commits by reading them back: a commit reported but lost is written again."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from streamer.kafka.config import KafkaSettings
from streamer.kafka.records import OutRecord
from streamer.kafka.sink import KafkaSink
from streamer.kafka.visibility import Visibility, VisibilityCheck
from streamer.kafka.writers import BeforeCommit, Marker, TransactionalWriter
from tests.integration.streamer.kafka.conftest import (
    SinkFactory,
    WrappedWriter,
    difference,
    ids_by_session,
    make_event,
    read_topic,
    sink_settings,
    wrap_writer,
)
from tests.support.kafka import unique_name

pytestmark = pytest.mark.kafka

SESSIONS = ["sesn_a", "sesn_b", "sesn_c"]


async def _send_in_transaction(producer: AIOKafkaProducer, topic: str, value: bytes) -> Marker:
    await producer.begin_transaction()
    metadata = await producer.send_and_wait(topic, value, key=b"k", partition=0)
    return (topic, 0, metadata.offset)


async def test_visibility_of_committed_aborted_and_open_transactions(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """Committed records are visible, aborted ones lost, and one in an open transaction stays
    undetermined: the check never guesses while the outcome is unknown."""
    async with make_sink():  # creates the topics
        pass
    topic = kafka_settings.events_topic
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_settings.bootstrap_servers, transactional_id=unique_name("tx")
    )
    await producer.start()
    check = VisibilityCheck(kafka_settings)
    await check.start()
    try:
        committed = await _send_in_transaction(producer, topic, b"committed")
        await producer.commit_transaction()
        aborted = await _send_in_transaction(producer, topic, b"aborted")
        await producer.abort_transaction()
        answers = [await check.check(m, timeout_s=30) for m in (committed, aborted, committed)]
        still_open = await _send_in_transaction(producer, topic, b"open")
        undetermined = await check.check(still_open, timeout_s=1)
        await producer.commit_transaction()
        settled = await check.check(still_open, timeout_s=30)
    finally:
        await check.stop()
        await producer.stop()

    assert [Visibility.VISIBLE, Visibility.LOST, Visibility.VISIBLE] == answers
    assert (Visibility.UNDETERMINED, Visibility.VISIBLE) == (undetermined, settled)


class LosesOneCommit(WrappedWriter):
    """A transactional writer whose `lose`-th write aborts its transaction yet reports it
    committed: the fault observed across broker restarts, made to happen on demand."""

    def __init__(self, inner: TransactionalWriter, lose: int) -> None:
        super().__init__(inner)
        self.lose = lose

    async def write(
        self,
        events: Iterable[OutRecord],
        checkpoints: list[OutRecord],
        before_commit: BeforeCommit | None = None,
    ) -> Marker | None:
        self.writes += 1
        if self.writes != self.lose:
            return await self.inner.write(events, checkpoints, before_commit)
        producer = self.inner.producer
        await producer.begin_transaction()
        marker = await self.inner.send_all(itertools.chain(events, checkpoints))
        if before_commit is not None:
            await before_commit()
        await producer.abort_transaction()
        return marker


def _losing(sink: KafkaSink, lose: int) -> LosesOneCommit:
    return wrap_writer(sink, lambda inner: LosesOneCommit(inner, lose))


async def _publish(sink: KafkaSink, numbers: range) -> None:
    for n in numbers:
        for session in SESSIONS:
            await sink.publish(make_event(session, n))
    await sink.flush()


def _lost_commits() -> float:
    value = REGISTRY.get_sample_value(
        "agents_streamer_sink_errors_total", {"reason": "commit_lost"}
    )
    return value or 0.0


@pytest.mark.parametrize("lost_batch", ["middle", "last"])
async def test_a_commit_reported_but_lost_is_written_again(
    make_sink: SinkFactory, kafka_settings: KafkaSettings, lost_batch: str
) -> None:
    """The sink confirms each batch before committing the next (and the last one at stop): a
    batch whose commit was reported but lost is written again, ahead of what follows, so every
    event is read once and in order."""
    lost_before = _lost_commits()
    async with make_sink(sink_settings(commit_interval_ms=10)) as sink:
        writer = _losing(sink, lose=2)
        await _publish(sink, range(20))  # write 1
        await _publish(sink, range(20, 40))  # write 2: aborted, reported committed
        if lost_batch == "middle":
            await _publish(sink, range(40, 60))  # finds write 2 lost, writes 2 and 3 again
    count = 60 if lost_batch == "middle" else 40

    records = await read_topic(
        kafka_settings.bootstrap_servers,
        kafka_settings.events_topic,
        expected=count * len(SESSIONS),
        timeout_s=60,
    )

    expected = {s: [make_event(s, n).event_id for n in range(count)] for s in SESSIONS}
    actual = ids_by_session(records)
    assert expected == actual, difference(expected, actual)
    assert (1.0, True) == (_lost_commits() - lost_before, writer.writes > 2)
