"""The dead-letter topic: records that are not events or keep failing, with why and whence."""

from __future__ import annotations

from typing import Any

import structlog

from consumers.errors import ConsumerError
from consumers.producer import OwnedProducer
from streamer.kafka.config import KafkaSettings

log = structlog.get_logger(__name__)

MAX_ERROR_CHARS = 1_000


class DeadLetters(OwnedProducer):
    """Copies a failed record (key, value, headers unchanged) to the dead-letter topic, adding
    `dlq_error_kind`, `dlq_error`, `dlq_consumer`, `dlq_topic`, `dlq_partition`, `dlq_offset`.
    """

    def __init__(self, kafka: KafkaSettings, consumer_name: str) -> None:
        super().__init__(kafka)
        self._consumer_name = consumer_name

    async def send(self, message: Any, error: ConsumerError) -> None:
        """Write one record to the dead-letter topic and wait until the broker has it."""
        if self._producer is None:
            raise ConsumerError("dead-letter producer is not started", kind="config")
        headers = [*(message.headers or ()), *self._headers(message, error)]
        await self._producer.send_and_wait(
            self._kafka.dead_letter_topic, value=message.value, key=message.key, headers=headers
        )
        log.warning(
            "record_dead_lettered",
            consumer=self._consumer_name,
            kind=error.kind,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )

    def _headers(self, message: Any, error: ConsumerError) -> list[tuple[str, bytes]]:
        return [
            ("dlq_error_kind", error.kind.encode()),
            ("dlq_error", str(error)[:MAX_ERROR_CHARS].encode("utf-8", "replace")),
            ("dlq_consumer", self._consumer_name.encode()),
            ("dlq_topic", str(message.topic).encode()),
            ("dlq_partition", str(message.partition).encode()),
            ("dlq_offset", str(message.offset).encode()),
        ]
