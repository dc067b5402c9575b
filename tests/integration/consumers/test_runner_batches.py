"""The runner with a consumer that takes batches (`Consumer.takes_batches`), on a real broker."""

from __future__ import annotations

import pytest

from consumers.base import Consumer, EventRecord
from consumers.errors import ConsumerError
from consumers.runner import Runner
from streamer.kafka.config import KafkaSettings
from tests.integration.consumers.test_runner import SETTINGS, kafka, read_all, running
from tests.support.events import event, produce
from tests.support.kafka import unique_name
from tests.support.waiting import until

__all__ = ["kafka"]

pytestmark = pytest.mark.kafka


class Batches(Consumer):
    """Records the batches it is handed and the records handled one by one; refuses (not
    retriable) any batch or record holding an id in `failing`."""

    name = "batches"
    takes_batches = True

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.batches: list[list[str]] = []
        self.singles: list[str] = []
        self.failing = failing

    async def handle_batch(self, records: list[EventRecord]) -> None:
        ids = [r.event_id for r in records]
        self.batches.append(ids)
        if self.failing & set(ids):
            raise ConsumerError("refused", kind="refused")

    async def handle(self, record: EventRecord) -> None:
        if record.event_id in self.failing:
            raise ConsumerError("refused", kind="refused")
        self.singles.append(record.event_id)

    def handled(self) -> list[str]:
        """Ids of the batches that went through, then of the records handled one by one."""
        good = [i for b in self.batches if not self.failing & set(b) for i in b]
        return good + self.singles


async def test_batches_hold_the_fetched_events_in_order(kafka: KafkaSettings) -> None:
    """`handle_batch` gets the fetched records of a partition in order, more than one at a time;
    a record that is not an event is dead-lettered and left out of the batch."""
    events = [event("agent.message") for _ in range(20)]
    values: list[dict[str, object] | bytes] = [*events[:10], b"not json", *events[10:]]
    await produce(kafka.bootstrap_servers, kafka.events_topic, [("sesn_1", v) for v in values],
                  partition=0)  # fmt: skip
    consumer = Batches()
    async with running(Runner(consumer, kafka, SETTINGS, group_id=unique_name("group"))):
        await until(lambda: len(consumer.handled()) >= len(events))
    [dead] = await read_all(kafka.bootstrap_servers, kafka.dead_letter_topic, 1)
    assert ([e["id"] for e in events], True, b"not json") == (
        consumer.handled(),
        max(len(b) for b in consumer.batches) > 1,
        dead.value,
    )


async def test_a_failing_batch_is_handled_again_record_by_record(kafka: KafkaSettings) -> None:
    """A batch the consumer refuses is handed over again one record at a time, so only the
    record that fails is dead-lettered; the others are handled, in order."""
    events = [event("agent.message") for _ in range(5)]
    await produce(kafka.bootstrap_servers, kafka.events_topic, [("sesn_1", e) for e in events],
                  partition=0)  # fmt: skip
    consumer = Batches(failing=frozenset({events[2]["id"]}))
    async with running(Runner(consumer, kafka, SETTINGS, group_id=unique_name("group"))):
        await until(lambda: len(consumer.singles) >= 4)
    [dead] = await read_all(kafka.bootstrap_servers, kafka.dead_letter_topic, 1)
    headers = dict(dead.headers)
    expected = [e["id"] for i, e in enumerate(events) if i != 2]
    assert (expected, b"refused", events[2]["id"].encode()) == (
        consumer.singles,
        headers["dlq_error_kind"],
        headers["ce_id"],
    )
