"""All of the bot's state, in a compacted Kafka topic keyed by tool use id.

Every replica reads the whole topic into a table (small: one record per gated tool use) and
writes through it. Records are applied in offset order; a terminal status is never replaced by a
non-terminal one, and `attempted` is sticky, so a late or concurrent write cannot make the bot
answer twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from consumers.approvals.model import TERMINAL, Entry
from consumers.producer import durable_producer
from streamer.kafka.config import KafkaSettings
from streamer.resource import AsyncResource

log = structlog.get_logger(__name__)


class StateStore(AsyncResource):
    """The table of entries, backed by the state topic; `start`/`stop`, `async with`."""

    def __init__(self, kafka: KafkaSettings, topic: str, partitions: int = 8) -> None:
        self._kafka = kafka
        self.topic = topic
        self._partitions = partitions
        self._table: dict[str, tuple[int, Entry]] = {}  # id -> (offset applied, entry)
        self._open: dict[str, Entry] = {}  # the table's entries that are not terminal
        self._producer: AIOKafkaProducer | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._positions: dict[TopicPartition, int] = {}  # next offset to read, per partition
        self.listeners: list[Callable[[Entry], None]] = []

    async def start(self) -> None:
        """Create the topic if needed, start the producer, read the topic to its end."""
        if self._producer is not None:
            return
        partitions = await self._ensure_topic()
        self._producer = durable_producer(self._kafka)
        await self._producer.start()
        self._reader = AIOKafkaConsumer(
            **self._kafka.client_kwargs(),
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await self._reader.start()
        assigned = [TopicPartition(self.topic, p) for p in partitions]
        self._reader.assign(assigned)
        await self._reader.seek_to_beginning(*assigned)
        self._task = asyncio.create_task(self._read(), name="approvals-state-reader")
        await self.catch_up()

    async def stop(self) -> None:
        """Stop reading and writing; safe twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.stop()
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    def get(self, tool_use_id: str) -> Entry | None:
        """The entry as this replica knows it."""
        found = self._table.get(tool_use_id)
        return found[1] if found else None

    def entries(self) -> Iterator[Entry]:
        """Every known entry."""
        return (entry for _offset, entry in self._table.values())

    def open_entries(self) -> Iterator[Entry]:
        """The known entries that are not terminal (few: the table keeps closed ones for days)."""
        return iter(self._open.values())

    async def put(self, entry: Entry) -> Entry:
        """Write `entry` durably (acks=all), then into the table; returns what the table holds."""
        if self._producer is None:
            raise RuntimeError("state store is not started")
        metadata = await self._producer.send_and_wait(
            self.topic, entry.to_json(), key=entry.tool_use_id.encode()
        )
        return self._apply(metadata.offset, entry)

    async def forget(self, tool_use_id: str) -> None:
        """Drop a closed entry: a tombstone in the topic (compaction removes it), and here."""
        if self._producer is None:
            raise RuntimeError("state store is not started")
        await self._producer.send_and_wait(self.topic, None, key=tool_use_id.encode())
        self._table.pop(tool_use_id, None)
        self._open.pop(tool_use_id, None)

    async def catch_up(self, timeout_s: float = 30.0) -> None:
        """Wait until the table reflects everything written to the topic before this call."""
        reader = self._reader
        if reader is None:
            return
        assigned = list(reader.assignment())
        ends = await reader.end_offsets(assigned) if assigned else {}
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(
                lambda: all(self._position(tp) >= end for tp, end in ends.items())
            )

    def _position(self, tp: TopicPartition) -> int:
        return self._positions.get(tp, 0)

    async def _read(self) -> None:
        assert self._reader is not None
        while True:
            batches = await self._reader.getmany(timeout_ms=500)
            for tp, messages in batches.items():
                for message in messages:
                    self._apply_record(message)
                    self._positions[tp] = message.offset + 1
            for tp in self._reader.assignment():
                with contextlib.suppress(Exception):  # no position yet: nothing fetched
                    self._positions[tp] = max(self._position(tp), await self._reader.position(tp))
            async with self._changed:
                self._changed.notify_all()

    def _apply_record(self, message: object) -> None:
        raw_key, value = getattr(message, "key", None), getattr(message, "value", None)
        key = raw_key.decode("utf-8", "replace") if raw_key else ""
        offset = int(getattr(message, "offset", 0))
        known = self._table.get(key)
        if known is not None and known[0] >= offset:
            return  # our own write, already in the table: skip decoding it
        if value is None:  # a tombstone: the entry was forgotten
            self._table.pop(key, None)
            self._open.pop(key, None)
            return
        try:
            entry = Entry.from_json(value)
        except (ValueError, TypeError) as exc:
            log.warning("approval_state_record_invalid", offset=getattr(message, "offset", -1),
                        error=type(exc).__name__)  # fmt: skip
            return
        self._apply(offset, entry)

    def _apply(self, offset: int, entry: Entry) -> Entry:
        current = self._table.get(entry.tool_use_id)
        if current is not None:
            applied_offset, known = current
            if offset <= applied_offset:
                return known
            if known.status in TERMINAL and entry.status not in TERMINAL:
                return known
            if known.attempted and not entry.attempted:
                entry = entry.with_(attempted=True)
        self._table[entry.tool_use_id] = (offset, entry)
        if entry.status in TERMINAL:
            self._open.pop(entry.tool_use_id, None)
        else:
            self._open[entry.tool_use_id] = entry
        for listener in self.listeners:
            listener(entry)
        return entry

    async def _ensure_topic(self) -> list[int]:
        """Create the compacted topic unless it exists; its partition numbers."""
        admin = AIOKafkaAdminClient(**self._kafka.client_kwargs())
        await admin.start()
        try:
            config = {"cleanup.policy": "compact"}
            topic = NewTopic(self.topic, self._partitions, 1, topic_configs=config)
            await admin.create_topics([topic])  # an "already exists" answer is fine
            async with asyncio.timeout(30):
                while True:
                    [described] = await admin.describe_topics([self.topic])
                    partitions = [p["partition"] for p in described.get("partitions", [])]
                    if partitions:
                        return sorted(partitions)
                    await asyncio.sleep(0.1)
        finally:
            await admin.close()
