"""The state topic: one compacted record per (group, input topic, partition), written in a
transaction by a producer whose transactional id is that partition's, so that a new owner of
the partition fences the old one before it reads the partition's state.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import ProducerFenced

from streamer.kafka.config import KafkaSettings
from streamer.kafka.offsets import log_end_offsets
from streamer.resource import AsyncResource

log = structlog.get_logger(__name__)

MAX_RECORD_BYTES = 16 * 1024 * 1024


class StateStore(AsyncResource):
    """Reads and writes the state records of one consumer group over one input topic."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        *,
        group_id: str,
        source_topic: str,
        partitions: int = 16,
        read_timeout_secs: float = 30.0,
    ) -> None:
        self._kafka = kafka
        self.topic = topic
        self._group_id = group_id
        self._source = source_topic
        self._partitions = partitions
        self._timeout = read_timeout_secs
        self._count = partitions  # the state topic's real partition count, after start
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._reader: AIOKafkaConsumer | None = None
        self._read_lock = asyncio.Lock()

    def key(self, partition: int) -> bytes:
        """The state record key of an input partition."""
        return f"{self._group_id}|{self._source}|{partition}".encode()

    def transactional_id(self, partition: int) -> str:
        """The transactional id that owns one input partition's state."""
        return f"{self._group_id}.{self._source}.{partition}"

    async def start(self) -> None:
        """Create the topic unless it exists, and start the reader; safe twice."""
        if self._reader is not None:
            return
        self._count = await self._ensure_topic()
        self._reader = AIOKafkaConsumer(
            **self._kafka.client_kwargs(),
            enable_auto_commit=False,
            isolation_level="read_committed",
            max_partition_fetch_bytes=MAX_RECORD_BYTES,
            fetch_max_bytes=MAX_RECORD_BYTES * 2,
        )
        await self._reader.start()
        self._reader.assign([TopicPartition(self.topic, p) for p in range(self._count)])

    async def stop(self) -> None:
        """Close every producer and the reader; safe twice."""
        for partition in list(self._producers):
            await self.release(partition)
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.stop()

    async def claim(self, partition: int) -> bytes | None:
        """Take `partition` over: fence its previous owner, then read its latest state value."""
        await self.release(partition)
        producer = AIOKafkaProducer(
            **self._kafka.client_kwargs(),
            transactional_id=self.transactional_id(partition),
            enable_idempotence=True,
            acks="all",
            max_request_size=MAX_RECORD_BYTES,
        )
        await producer.start()
        try:
            # Claiming the id aborts what a predecessor left open and fences it for good.
            await producer.begin_transaction()
            await producer.commit_transaction()
        except BaseException:
            await producer.stop()
            raise
        self._producers[partition] = producer
        return await self._latest(partition)

    async def release(self, partition: int) -> None:
        """Stop writing `partition`'s state (it was revoked, or before a new claim)."""
        producer = self._producers.pop(partition, None)
        if producer is not None:
            await producer.stop()

    def owns(self, partition: int) -> bool:
        """Whether this store holds the producer of `partition`."""
        return partition in self._producers

    async def write(self, partition: int, value: bytes) -> None:
        """Store `value` as `partition`'s state in one transaction (raises on any failure)."""
        producer = self._producers[partition]
        await producer.begin_transaction()
        try:
            await producer.send_and_wait(
                self.topic, value, key=self.key(partition), partition=partition % self._count
            )
        except ProducerFenced:
            raise  # the producer is dead for good: nothing to abort
        except BaseException:
            with contextlib.suppress(Exception):  # a producer in a fatal state cannot abort
                await producer.abort_transaction()
            raise
        await producer.commit_transaction()

    async def _latest(self, partition: int) -> bytes | None:
        """The value of the newest committed record with `partition`'s key (None: none)."""
        reader = self._reader
        assert reader is not None, "state store is not started"
        tp = TopicPartition(self.topic, partition % self._count)
        key = self.key(partition)
        async with self._read_lock, asyncio.timeout(self._timeout):
            begin = (await reader.beginning_offsets([tp]))[tp]
            end = (await log_end_offsets(self._kafka, [tp]))[tp]  # see there: not the LSO
            window = 8
            while True:  # look back further and further for the key (other groups share tp)
                start = max(begin, end - window)
                found = await self._scan(reader, tp, start, end, key)
                if found is not None or start == begin:
                    return found[0] if found else None
                window *= 8

    @staticmethod
    async def _scan(
        reader: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int, key: bytes
    ) -> tuple[bytes | None] | None:
        reader.seek(tp, start)
        found: tuple[bytes | None] | None = None
        while await reader.position(tp) < end:
            batches = await reader.getmany(tp, timeout_ms=500)
            for message in batches.get(tp, ()):
                if message.offset < end and message.key == key:
                    found = (message.value,)
        return found

    async def _ensure_topic(self) -> int:
        """Create the compacted topic unless it exists; its partition count."""
        admin = AIOKafkaAdminClient(**self._kafka.client_kwargs())
        await admin.start()
        try:
            config = {"cleanup.policy": "compact", "max.message.bytes": str(MAX_RECORD_BYTES)}
            topic = NewTopic(self.topic, self._partitions, 1, topic_configs=config)
            await admin.create_topics([topic])  # an "already exists" answer is fine
            async with asyncio.timeout(30):
                while True:
                    [described] = await admin.describe_topics([self.topic])
                    partitions = described.get("partitions", [])
                    if partitions:
                        return len(partitions)
                    await asyncio.sleep(0.1)
        finally:
            await admin.close()
