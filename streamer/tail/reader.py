"""Reading the events topic for `streamer tail`: every partition, by hand, committing nothing.

No consumer group: the reader assigns itself all partitions of the topic (`group_id=None`), so it
never joins a group, never takes partitions from a consumer, and has nothing to commit. It reads
`read_committed`, as every subscriber should (docs/RECORDS.md). It starts at the end of each
partition (only what comes next), at its beginning, or at the first record written at a given time.
Without `follow` it stops once it has reached the end offsets it saw at the start.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamer.kafka.config import KafkaSettings
from streamer.resource import AsyncResource

POLL_MS = 500
MAX_RECORDS = 1_000
# How long the broker may hold a fetch with nothing new: short, so that a live view is live.
FETCH_MAX_WAIT_MS = 100
TOPIC_RETRY_SECS = 1.0


class TailError(Exception):
    """What stops `streamer tail` with a message instead of output (exit code 1)."""


@dataclass(frozen=True)
class StartAt:
    """Where reading starts: the `end` (default), the `beginning`, or the records from `since`."""

    where: Literal["end", "beginning", "time"] = "end"
    since: datetime | None = None


class TailReader(AsyncResource):
    """Assigned (not subscribed) reader of one topic; `async with`, then `async for` `batches()`.

    `waiting` is called once, with a message, when the topic does not exist yet and the reader
    waits for it (with `follow`; without, a missing topic is a `TailError`).
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        *,
        start_at: StartAt,
        follow: bool,
        waiting: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.kafka = kafka
        self.topic = topic
        self.start_at = start_at
        self.follow = follow
        self._waiting = waiting
        self._client: AIOKafkaConsumer | None = None
        self._ends: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        """Connect, assign every partition and seek to where reading starts."""
        if self._client is not None:
            return
        partitions = await self._partitions()
        self._client = AIOKafkaConsumer(
            **self.kafka.client_kwargs(),
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        try:
            await self._client.start()
            self._client.assign(partitions)
            await self._seek(self._client, partitions)
            if not self.follow:
                # With read_committed these are the last stable offsets: an open transaction's
                # records are past them, and are not waited for.
                self._ends = await self._client.end_offsets(partitions)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close the connection; safe twice."""
        client, self._client = self._client, None
        if client is not None:
            await client.stop()

    async def batches(self) -> AsyncIterator[list[Any]]:
        """Fetched records, a batch at a time, partitions merged by write time (each partition's
        order kept). Ends, without `follow`, once every partition reached its end offset."""
        client = self._client
        if client is None:
            raise TailError("the reader is not started")
        while self.follow or not await self._caught_up(client):
            fetched = await client.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
            if fetched:
                yield list(heapq.merge(*fetched.values(), key=lambda m: m.timestamp))

    async def _caught_up(self, client: AIOKafkaConsumer) -> bool:
        for tp, end in self._ends.items():
            if await client.position(tp) < end:
                return False
        return True

    async def _partitions(self) -> list[TopicPartition]:
        """The topic's partitions; with `follow`, once it exists. Never creates it: the topic
        is looked for in the list of all topics, as naming it in a metadata request would make
        a broker that auto-creates topics create it."""
        admin = AIOKafkaAdminClient(**self.kafka.client_kwargs())
        await admin.start()
        try:
            told = False
            while True:
                if self.topic in await admin.list_topics():
                    [described] = await admin.describe_topics([self.topic])
                    numbers = sorted(p["partition"] for p in described.get("partitions") or [])
                    if numbers:
                        return [TopicPartition(self.topic, n) for n in numbers]
                elif not self.follow:
                    raise TailError(f"topic {self.topic!r} does not exist")
                elif not told:
                    self._waiting(f"waiting for topic {self.topic!r} to be created")
                    told = True
                await asyncio.sleep(TOPIC_RETRY_SECS)
        finally:
            await admin.close()

    async def _seek(self, client: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        # Explicit offsets rather than seek_to_beginning/end, which reset lazily.
        if self.start_at.where == "beginning":
            offsets = await client.beginning_offsets(partitions)
        else:
            offsets = await client.end_offsets(partitions)
        if self.start_at.where == "time" and self.start_at.since is not None:
            since_ms = int(self.start_at.since.timestamp() * 1000)
            found = await client.offsets_for_times(dict.fromkeys(partitions, since_ms))
            offsets |= {tp: hit.offset for tp, hit in found.items() if hit is not None}
        for tp in partitions:
            client.seek(tp, offsets[tp])
