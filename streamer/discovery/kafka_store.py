"""`KafkaWatermarks`: the discovery watermark in a compacted, one-partition Kafka topic.

Topic `agents.streamer.discovery` (`KAFKA_DISCOVERY_TOPIC`), keyed by the API base URL the process
follows, so that streamers of different APIs can share a cluster; the last record per key wins.
Records are plain (idempotent, not transactional) writes: a watermark that is older than the
truth only makes the next pass re-list sessions, which following ignores.
"""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamer.discovery.watermark import Watermark
from streamer.kafka.admin import TopicSpec, ensure_topics
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.resource import AsyncResource

log = structlog.get_logger("streamer.discovery")


def discovery_topic_spec(kafka: KafkaSettings) -> TopicSpec:
    """One partition (one watermark per API, written by one poller at a time), compacted."""
    return TopicSpec(kafka.discovery_topic, 1, {"cleanup.policy": "compact"})


class KafkaWatermarks(AsyncResource):
    """A `WatermarkStore` on Kafka. `stop` is safe twice."""

    def __init__(self, kafka: KafkaSettings, settings: SinkSettings, key: str) -> None:
        self._kafka = kafka
        self._settings = settings
        self._key = key.encode()
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Create the topic when missing, and the producer."""
        if self._producer is not None:
            return
        await ensure_topics(self._kafka, self._settings, [discovery_topic_spec(self._kafka)])
        producer = AIOKafkaProducer(
            **self._kafka.client_kwargs(),
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=self._settings.request_timeout_ms,
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def load(self) -> Watermark | None:
        """Read the topic to its end; the last valid record under this process's key."""
        consumer = AIOKafkaConsumer(
            **self._kafka.client_kwargs(), group_id=None, enable_auto_commit=False
        )
        try:  # started inside: a cancelled start still closes the consumer
            await consumer.start()
            async with asyncio.timeout(self._settings.request_timeout_ms / 1000 * 3):
                return await self._read(consumer)
        finally:
            await consumer.stop()

    async def _read(self, consumer: AIOKafkaConsumer) -> Watermark | None:
        partition = TopicPartition(self._kafka.discovery_topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        found: Watermark | None = None
        while await consumer.position(partition) < end:
            batches = await consumer.getmany(partition, timeout_ms=500)
            for message in batches.get(partition, []):
                if message.key == self._key and message.value is not None:
                    found = _decoded(message.value) or found
        return found

    async def save(self, watermark: Watermark) -> None:
        """Write `watermark`; returns once the cluster has it."""
        if self._producer is None:
            raise RuntimeError("KafkaWatermarks is not started")
        await self._producer.send_and_wait(
            self._kafka.discovery_topic, watermark.encode(), key=self._key, partition=0
        )


def _decoded(raw: bytes) -> Watermark | None:
    try:
        return Watermark.decode(raw)
    except ValueError:
        log.warning("discovery_watermark_skipped", reason="bad_record")
        return None
