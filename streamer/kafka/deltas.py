"""Delta previews (`event_start` / `event_delta`) to their own topic: best-effort, off by default.

Previews are never persisted by the API and never replayed, so they are not worth a transaction:
a plain producer sends them, failures are counted and dropped, and nothing waits for them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer

from streamer.kafka.config import KafkaSettings
from streamer.kafka.metrics import ERRORS, RECORDS
from streamer.kafka.settings import SinkSettings

log = structlog.get_logger(__name__)

_HEADERS = [("content-type", b"application/json")]


class DeltaPublisher:
    """Sends previews keyed by session id; `stop` is safe twice."""

    def __init__(self, kafka: KafkaSettings, settings: SinkSettings) -> None:
        self._topic = kafka.deltas_topic
        self._kwargs: dict[str, Any] = {
            **kafka.client_kwargs(),
            "acks": 1,
            "linger_ms": settings.linger_ms,
            "request_timeout_ms": settings.request_timeout_ms,
        }
        self._producer: AIOKafkaProducer | None = None
        self._pending: set[asyncio.Future[Any]] = set()

    async def start(self) -> None:
        producer = AIOKafkaProducer(**self._kwargs)
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()  # waits for the pending previews (bounded by request timeout)
        self._pending.clear()

    async def publish(self, session_id: str, raw: bytes) -> None:
        """Queue one preview; never raises for Kafka trouble (counted and dropped instead)."""
        producer = self._producer
        if producer is None:
            return
        try:
            future = await producer.send(
                self._topic, raw, key=session_id.encode(), headers=_HEADERS
            )
        except Exception as exc:  # noqa: BLE001 -- best-effort by design: count and drop
            self._failed(exc)
            return
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self._failed(exc)
            return
        RECORDS.labels(topic_kind="deltas").inc()

    def _failed(self, exc: BaseException) -> None:
        ERRORS.labels(reason="send_failed").inc()
        log.warning("delta_dropped", error=type(exc).__name__)
