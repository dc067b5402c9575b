"""Is a committed transaction visible? One long-lived `read_committed` consumer answers.

`commit_transaction()` returning is not proof that a transaction's records will be read: across a
broker restart a transaction reported committed has been seen aborted later (RECORDS.md, Known
issues). The sink therefore confirms each committed batch, by reading one of its records, before
it commits the next one. A record is *visible* when a `read_committed` fetch from its offset
returns it; *lost* when the fetch moves past its offset without returning it (aborted records are
skipped); *undetermined* while the last stable offset has not reached it (markers still being
written, or the broker unreachable).

The partition is paused between checks, so the consumer costs nothing while the sink is idle.
"""

from __future__ import annotations

import asyncio
import enum

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamer.kafka.config import KafkaSettings
from streamer.kafka.writers import Marker
from streamer.resource import AsyncResource


class Visibility(enum.Enum):
    VISIBLE = "visible"
    LOST = "lost"
    UNDETERMINED = "undetermined"


class VisibilityCheck(AsyncResource):
    """Answers `check(marker)` with one consumer kept across calls (no group, no commits)."""

    def __init__(self, kafka: KafkaSettings, poll_ms: int = 100) -> None:
        self._kafka = kafka
        self._poll_ms = poll_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            **self._kafka.client_kwargs(),
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            fetch_max_wait_ms=self._poll_ms,
            max_partition_fetch_bytes=64 * 1024,  # one record is all a check needs
        )
        self._consumer = consumer  # before starting: `stop` closes it even after a failed start
        await consumer.start()

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def check(self, marker: Marker, timeout_s: float) -> Visibility:
        """Whether the record at `marker` can be read by `read_committed` consumers."""
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("visibility check is not started")
        topic, partition, offset = marker
        tp = TopicPartition(topic, partition)
        async with self._lock:
            if consumer.assignment() != {tp}:
                consumer.assign([tp])
            consumer.seek(tp, offset)
            consumer.resume(tp)
            try:
                return await self._read_at(consumer, tp, offset, timeout_s)
            finally:
                consumer.pause(tp)

    async def _read_at(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, timeout_s: float
    ) -> Visibility:
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    batches = await consumer.getmany(tp, timeout_ms=self._poll_ms, max_records=1)
                    messages = batches.get(tp, [])
                    if messages:
                        return (
                            Visibility.VISIBLE if messages[0].offset == offset else Visibility.LOST
                        )
                    if await consumer.position(tp) > offset:
                        return Visibility.LOST
        except TimeoutError:
            return Visibility.UNDETERMINED
