"""A Kafka producer owned by one component: durable writes (`acks=all`, idempotent)."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from streamer.kafka.config import KafkaSettings
from streamer.resource import AsyncResource


class OwnedProducer(AsyncResource):
    """Base for components that write records of their own (audit log, dead letters)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect; safe twice."""
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                **self._kafka.client_kwargs(), acks="all", enable_idempotence=True
            )
            await self._producer.start()

    async def stop(self) -> None:
        """Flush and close; safe twice."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    @property
    def producer(self) -> AIOKafkaProducer:
        """The started producer; raises if `start` has not run."""
        if self._producer is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._producer
