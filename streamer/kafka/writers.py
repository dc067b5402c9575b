"""Writing one batch of records: in a Kafka transaction, or at least once.

A writer owns one producer. After any failure the sink stops the writer and starts it again: a new
transactional producer with the same `transactional_id` aborts whatever the old one left open, so
the retried batch is never seen twice by a `read_committed` reader.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaProducer

from streamer.kafka.config import KafkaSettings
from streamer.kafka.records import OutRecord
from streamer.kafka.settings import SinkSettings

log = structlog.get_logger(__name__)


class Writer(Protocol):
    """Writes whole batches; `write` returns once every record of the batch is durable."""

    started: bool

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def write(self, events: list[OutRecord], checkpoints: list[OutRecord]) -> None: ...


def producer_kwargs(
    kafka: KafkaSettings, settings: SinkSettings, limits: dict[str, int]
) -> dict[str, Any]:
    """aiokafka producer arguments: batch-friendly, sized to the topics' message limits."""
    smallest = min(limits.values()) if limits else settings.producer_batch_bytes
    return {
        **kafka.client_kwargs(),
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": settings.linger_ms,
        "max_batch_size": min(settings.producer_batch_bytes, smallest),
        "max_request_size": max([*limits.values(), settings.producer_batch_bytes]),
        "request_timeout_ms": settings.request_timeout_ms,
    }


class _ProducerOwner:
    """Start/stop of one producer; `stop` is safe twice and bounded in time."""

    def __init__(self, kwargs: dict[str, Any], stop_timeout_s: float) -> None:
        self._kwargs = kwargs
        self._stop_timeout_s = stop_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self.started = False

    async def start(self) -> None:
        producer = AIOKafkaProducer(**self._kwargs)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        self.started = True

    async def stop(self) -> None:
        producer, self._producer, self.started = self._producer, None, False
        if producer is None:
            return
        try:
            # Pending batches expire after request_timeout_ms when the broker is gone.
            async with asyncio.timeout(self._stop_timeout_s):
                await producer.stop()
        except Exception as exc:  # noqa: BLE001 -- a failing close must not mask the caller's error
            log.warning("producer_stop_failed", error=type(exc).__name__)

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("writer is not started")
        return self._producer

    async def send_all(self, records: list[OutRecord]) -> None:
        producer = self.producer
        futures = [
            await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records
        ]
        if futures:
            await asyncio.gather(*futures)


class TransactionalWriter(_ProducerOwner):
    """Events and checkpoints of a batch in one transaction: all visible, or none."""

    def __init__(
        self, kafka: KafkaSettings, settings: SinkSettings, limits: dict[str, int]
    ) -> None:
        kwargs = producer_kwargs(kafka, settings, limits)
        kwargs["transactional_id"] = settings.transactional_id
        super().__init__(kwargs, settings.request_timeout_ms * 2 / 1000)

    async def start(self) -> None:
        """Start and claim the transactional id: this fences a predecessor using the same id and
        aborts the transaction it left open before anything is read or written."""
        await super().start()
        producer = self.producer
        await producer.begin_transaction()
        await producer.commit_transaction()

    async def write(self, events: list[OutRecord], checkpoints: list[OutRecord]) -> None:
        producer = self.producer
        await producer.begin_transaction()
        await self.send_all([*events, *checkpoints])
        await producer.commit_transaction()


class AtLeastOnceWriter(_ProducerOwner):
    """For clusters without transactions: idempotent producer; checkpoints only after their
    events are acknowledged, so a crash can repeat events but never skip them."""

    def __init__(
        self, kafka: KafkaSettings, settings: SinkSettings, limits: dict[str, int]
    ) -> None:
        super().__init__(
            producer_kwargs(kafka, settings, limits), settings.request_timeout_ms * 2 / 1000
        )

    async def write(self, events: list[OutRecord], checkpoints: list[OutRecord]) -> None:
        await self.send_all(events)
        await self.send_all(checkpoints)


def make_writer(kafka: KafkaSettings, settings: SinkSettings, limits: dict[str, int]) -> Writer:
    """The writer for the configured delivery mode."""
    if settings.mode == "exactly_once":
        return TransactionalWriter(kafka, settings, limits)
    return AtLeastOnceWriter(kafka, settings, limits)
