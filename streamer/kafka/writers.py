"""Writing one batch of records: in a Kafka transaction, or at least once.

A writer owns one producer. After any failure the sink stops the writer and starts it again: a new
transactional producer with the same `transactional_id` aborts whatever the old one left open, so
the retried batch is never seen twice by a `read_committed` reader.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from streamer.kafka.config import KafkaSettings
from streamer.kafka.errors import AmbiguousCommitError, is_fatal
from streamer.kafka.records import OutRecord
from streamer.kafka.settings import SinkSettings

log = structlog.get_logger(__name__)

Marker = tuple[str, int, int]  # (topic, partition, offset) of one record of a write
BeforeCommit = Callable[[], Awaitable[None]]


class Writer(Protocol):
    """Writes whole batches; `write` returns once every record of the batch is durable."""

    started: bool

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def write(
        self,
        events: Iterable[OutRecord],
        checkpoints: list[OutRecord],
        before_commit: BeforeCommit | None = None,
    ) -> Marker | None:
        """Returns where one record of the write landed, when its visibility can be checked.

        A transactional writer awaits `before_commit` once every record is acknowledged and
        before it commits; if it raises, the transaction is not committed.
        """
        ...


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
    """Start/stop of one producer; `stop` is safe twice."""

    def __init__(self, kwargs: dict[str, Any], timeout_s: float) -> None:
        self._kwargs = kwargs
        # Acknowledgements and commits normally fail by themselves within the request timeout;
        # this bounds the cases where aiokafka would keep retrying (e.g. no coordinator).
        self._write_timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = KeyPartitioner()
        self.started = False

    async def start(self) -> None:
        self._partitioner = KeyPartitioner()  # partition counts may have changed
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
            # No timeout on purpose: a transactional producer never expires its batches, so while
            # the broker is down this waits for it. Abandoning the producer instead would leave a
            # zombie sending with our transactional id next to its successor. The sink's own
            # stop deadline still bounds shutdown.
            await producer.stop()
        except Exception as exc:  # noqa: BLE001 -- a failing close must not mask the caller's error
            log.warning("producer_stop_failed", error=type(exc).__name__)

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("writer is not started")
        return self._producer

    async def send_all(self, records: Iterable[OutRecord]) -> Marker | None:
        """Send `records` in partition batches (in order per partition) and wait for every
        acknowledgement; returns where the last batch starts (a record of this write)."""
        producer = self.producer
        partitioner = self._partitioner
        builders: dict[tuple[str, int], Any] = {}
        futures: list[asyncio.Future[Any]] = []
        for record in records:
            partition = partitioner.cached(record)
            if partition is None:
                partition = await partitioner.partition(producer, record)
            tp = (record.topic, partition)
            builder = builders.get(tp)
            if builder is None:
                builder = builders[tp] = producer.create_batch()
            if (
                builder.append(
                    key=record.key, value=record.value, timestamp=None, headers=record.headers
                )
                is None
            ):
                futures.append(await producer.send_batch(builder, tp[0], partition=tp[1]))
                builder = builders[tp] = producer.create_batch()
                # The first record always fits an empty batch (aiokafka's rule).
                builder.append(
                    key=record.key, value=record.value, timestamp=None, headers=record.headers
                )
        for (topic, partition), builder in builders.items():
            futures.append(await producer.send_batch(builder, topic, partition=partition))
        if not futures:
            return None
        async with asyncio.timeout(self._write_timeout_s):
            metadata = await asyncio.gather(*futures)
        last = metadata[-1]
        return (last.topic, last.partition, last.offset)


class KeyPartitioner:
    """Kafka's default partitioner (murmur2 of the key), cached per key: the same partition any
    Kafka client would choose for a session id, without hashing it again for every event."""

    def __init__(self, max_cached: int = 200_000) -> None:
        self._counts: dict[str, int] = {}
        self._cache: dict[tuple[str, bytes], int] = {}
        self._max_cached = max_cached

    def cached(self, record: OutRecord) -> int | None:
        """The partition of `record` if its key was seen before (no await on the hot path)."""
        return self._cache.get((record.topic, record.key))

    async def partition(self, producer: AIOKafkaProducer, record: OutRecord) -> int:
        cached = self._cache.get((record.topic, record.key))
        if cached is not None:
            return cached
        count = self._counts.get(record.topic)
        if count is None:
            count = self._counts[record.topic] = len(await producer.partitions_for(record.topic))
        if len(self._cache) >= self._max_cached:
            self._cache.clear()
        partition = (int(murmur2(record.key)) & 0x7FFFFFFF) % count
        self._cache[(record.topic, record.key)] = partition
        return partition


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

    async def write(
        self,
        events: Iterable[OutRecord],
        checkpoints: list[OutRecord],
        before_commit: BeforeCommit | None = None,
    ) -> Marker | None:
        """One transaction; AmbiguousCommitError when only the commit's outcome is unknown."""
        producer = self.producer
        await producer.begin_transaction()
        marker = await self.send_all(itertools.chain(events, checkpoints))
        if before_commit is not None:
            await before_commit()
        try:
            async with asyncio.timeout(self._write_timeout_s):
                await producer.commit_transaction()
        except Exception as exc:
            if marker is None or is_fatal(exc):
                raise
            raise AmbiguousCommitError(marker, type(exc).__name__) from exc
        return marker


class AtLeastOnceWriter(_ProducerOwner):
    """For clusters without transactions: idempotent producer; checkpoints only after their
    events are acknowledged, so a crash can repeat events but never skip them."""

    def __init__(
        self, kafka: KafkaSettings, settings: SinkSettings, limits: dict[str, int]
    ) -> None:
        super().__init__(
            producer_kwargs(kafka, settings, limits), settings.request_timeout_ms * 2 / 1000
        )

    async def write(
        self,
        events: Iterable[OutRecord],
        checkpoints: list[OutRecord],
        before_commit: BeforeCommit | None = None,
    ) -> Marker | None:
        await self.send_all(events)
        await self.send_all(checkpoints)
        return None  # nothing to check: a repeat is allowed in this mode


def make_writer(kafka: KafkaSettings, settings: SinkSettings, limits: dict[str, int]) -> Writer:
    """The writer for the configured delivery mode."""
    if settings.mode == "exactly_once":
        return TransactionalWriter(kafka, settings, limits)
    return AtLeastOnceWriter(kafka, settings, limits)
