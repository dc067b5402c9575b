"""The local broker is real Kafka: idempotent and transactional produce, read_committed consume."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.support.kafka import unique_name

pytestmark = pytest.mark.kafka


async def _read_values(bootstrap: str, topic: str, group_id: str, count: int) -> list[object]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[object] = []
    try:
        async with asyncio.timeout(30):
            while len(values) < count:
                batches = await consumer.getmany(timeout_ms=500)
                values += [orjson.loads(m.value) for msgs in batches.values() for m in msgs]
            # A short extra poll proves nothing else (e.g. an aborted record) is visible.
            extra = await consumer.getmany(timeout_ms=1000)
            values += [orjson.loads(m.value) for msgs in extra.values() for m in msgs]
    finally:
        await consumer.stop()
    return values


async def test_idempotent_records_round_trip(
    kafka_bootstrap: str, topic: str, group_id: str
) -> None:
    """JSON records from an idempotent producer come back in order, each once."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for n in range(5):
            await producer.send_and_wait(topic, orjson.dumps({"n": n}), key=b"sesn_1")
    finally:
        await producer.stop()

    assert [{"n": n} for n in range(5)] == await _read_values(kafka_bootstrap, topic, group_id, 5)


async def test_read_committed_sees_committed_transactions_only(
    kafka_bootstrap: str, topic: str, group_id: str
) -> None:
    """A read_committed consumer sees committed transactions and never an aborted one."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=unique_name("tx")
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, orjson.dumps({"tx": "first"}), key=b"sesn_1")
        await producer.begin_transaction()
        await producer.send(topic, orjson.dumps({"tx": "aborted"}), key=b"sesn_1")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, orjson.dumps({"tx": "second"}), key=b"sesn_1")
    finally:
        await producer.stop()

    values = await _read_values(kafka_bootstrap, topic, group_id, 2)

    assert [{"tx": "first"}, {"tx": "second"}] == values
