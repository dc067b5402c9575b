"""The page's history: the most recent audit records of `agents.approvals`, kept in memory.

A reader of its own (no consumer group, commits nothing, `read_committed`) assigned every
partition of the audit topic, starting `size` records from the end of each, then following it.
The topic may not exist yet (the bot creates it with its first decision): it looks again every
couple of seconds until it does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamer.kafka.config import KafkaSettings
from streamer.resource import AsyncResource

log = structlog.get_logger(__name__)

Record = dict[str, Any]


class AuditHistory(AsyncResource):
    """Recent audit records, newest last; `listeners` hear each new one."""

    def __init__(self, kafka: KafkaSettings, size: int) -> None:
        self._kafka = kafka
        self._size = max(1, size)
        self.records: deque[Record] = deque(maxlen=self._size)
        self.listeners: list[Callable[[Record], None]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start following the topic (in the background); safe twice."""
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name="approvals-history")

    async def stop(self) -> None:
        """Stop following; safe twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def select(self, *, session: str = "", decision: str = "", limit: int = 200) -> list[Record]:
        """The newest records first, those of `session` (a prefix) and `decision` when given."""
        found: list[Record] = []
        newest = sorted(self.records, key=lambda r: float(r.get("at") or 0), reverse=True)
        for record in newest:
            if session and not str(record.get("session_id", "")).startswith(session):
                continue
            if decision and record.get("decision") != decision:
                continue
            found.append(record)
            if len(found) >= limit:
                break
        return found

    async def _follow(self) -> None:
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the page must outlive Kafka trouble
                log.warning("approvals_history_failed", error=type(exc).__name__)
                await asyncio.sleep(2.0)

    async def _read(self) -> None:
        partitions = await self._partitions()
        reader = AIOKafkaConsumer(
            **self._kafka.client_kwargs(), enable_auto_commit=False,
            isolation_level="read_committed",
        )  # fmt: skip
        try:  # started inside: a stop that cancels the start still closes the reader
            await reader.start()
            assigned = [TopicPartition(self._kafka.approvals_topic, p) for p in partitions]
            reader.assign(assigned)
            ends = await reader.end_offsets(assigned)
            starts = await reader.beginning_offsets(assigned)
            for tp in assigned:
                reader.seek(tp, max(starts[tp], ends[tp] - self._size))
            while True:
                batches = await reader.getmany(timeout_ms=1000)
                for messages in batches.values():
                    for message in messages:
                        self._add(message.value)
        finally:
            await reader.stop()

    async def _partitions(self) -> list[int]:
        """The audit topic's partitions, once it exists."""
        admin = AIOKafkaAdminClient(**self._kafka.client_kwargs())
        await admin.start()
        try:
            while True:
                [described] = await admin.describe_topics([self._kafka.approvals_topic])
                partitions = [p["partition"] for p in described.get("partitions") or []]
                if partitions:
                    return sorted(partitions)
                await asyncio.sleep(2.0)
        finally:
            await admin.close()

    def _add(self, value: bytes | None) -> None:
        try:
            record = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            return
        if not isinstance(record, dict):
            return
        self.records.append(record)
        for listener in self.listeners:
            listener(record)
