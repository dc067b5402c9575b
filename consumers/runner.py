"""Runs one `Consumer` as a Kafka consumer group on the events topic.

At-least-once: records are handled in partition order and an offset is committed only after the
handler finished with the record (after each batch, on partition revocation, and on stop). A
batch's commit goes out while the next batch is fetched and handled (one commit in flight at a
time); a consumer that owns its offsets stores them before the next batch instead.
Transient errors are retried with exponential backoff; records that keep failing, and records
that are not events, go to the dead-letter topic with the error and their coordinates.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from consumers import metrics
from consumers.base import Consumer, ConsumerContext, EventRecord
from consumers.dlq import DeadLetters
from consumers.errors import BadRecordError, ConsumerError
from consumers.gate import Gate
from consumers.settings import RunnerSettings
from streamer.api import ApiError
from streamer.kafka.config import KafkaSettings
from streamer.resource import AsyncResource

log = structlog.get_logger(__name__)

_Item = TypeVar("_Item")  # what a handler takes: a record, or a batch of them


class _StoppingError(Exception):
    """The runner is stopping while a record is being retried; leave it uncommitted."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._runner.partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._runner.partitions_assigned(assigned)


class Runner(AsyncResource):
    """One consumer, its consumer group membership, its dead-letter producer; `async with`."""

    def __init__(
        self,
        consumer: Consumer,
        kafka: KafkaSettings | None = None,
        settings: RunnerSettings | None = None,
        group_id: str | None = None,
    ) -> None:
        self.consumer = consumer
        self.kafka = kafka or KafkaSettings()
        self.settings = settings or RunnerSettings()
        self.name = consumer.name
        self.group_id = group_id or f"{self.settings.group_prefix}{consumer.name}"
        self.context = ConsumerContext(self.kafka, self.group_id)
        # Labelled children looked up once: `.labels()` per record costs more than the handler
        # of a light consumer.
        self._handled = metrics.RECORDS.labels(self.name, "handled")
        self._handler_seconds = metrics.HANDLER_SECONDS.labels(self.name)
        self._client: AIOKafkaConsumer | None = None
        self._dead_letters = DeadLetters(self.kafka, self.name)
        self._processed: dict[TopicPartition, int] = {}  # next offset to commit, per partition
        self._positions: dict[TopicPartition, int] = {}  # next offset to handle (for the lag)
        # Handlers of different partitions run concurrently (shared); commits and revocations
        # wait for the records in hand and hold new ones back (exclusive).
        self._gate = Gate()
        self._stopping = asyncio.Event()
        self._generation = 0  # bumped on every revocation: batches fetched before are stale
        self._committing: asyncio.Task[None] | None = None  # the last batch's commit, in flight
        self._idle = asyncio.Event()  # set while `run` is not running
        self._idle.set()
        self._started = False

    async def start(self) -> None:
        """Start the consumer's resources, the dead-letter producer, and join the group."""
        if self._started:
            return
        # A failed start undoes its steps; each part's stop is safe after its own failed start.
        async with contextlib.AsyncExitStack() as started:
            started.push_async_callback(self.consumer.stop)
            await self.consumer.start(self.context)
            started.push_async_callback(self._dead_letters.stop)
            await self._dead_letters.start()
            client = AIOKafkaConsumer(
                **self.kafka.client_kwargs(),
                group_id=self.group_id,
                enable_auto_commit=False,
                isolation_level="read_committed",
                auto_offset_reset=self.settings.auto_offset_reset,
                fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
            )
            started.push_async_callback(client.stop)
            await client.start()
            client.subscribe([self.kafka.events_topic], listener=_Rebalance(self))
            started.pop_all()
        self._client = client
        self._started = True
        log.info("consumer_started", consumer=self.name, group_id=self.group_id)

    async def stop(self) -> None:
        """Commit what was handled, leave the group, stop the consumer; safe twice."""
        self._stopping.set()
        await self._idle.wait()
        client, self._client = self._client, None
        if client is not None:
            await self._committed()
            async with self._gate.exclusive():
                await self._commit(client, set(self._processed), "stop")
            await client.stop()
            await self._dead_letters.stop()
            await self.consumer.stop()
            log.info("consumer_stopped", consumer=self.name)

    def request_stop(self) -> None:
        """Ask `run` to return after the record in hand (what SIGTERM does)."""
        self._stopping.set()

    async def run(self) -> None:
        """Fetch, handle and commit batches until `request_stop` (or `stop`)."""
        self._idle.clear()
        try:
            while not self._stopping.is_set() and self._client is not None:
                await self._run_once(self._client)
        finally:
            self._idle.set()

    async def _run_once(self, client: AIOKafkaConsumer) -> None:
        batches = await client.getmany(
            timeout_ms=self.settings.poll_timeout_ms,
            max_records=self.settings.max_batch_records,
        )
        # Read after the fetch: aiokafka drops fetched records that a seek (in a rebalance
        # callback, say) made stale, so what `getmany` returned matches the positions now.
        generation = self._generation
        await asyncio.gather(
            *(self._handle_partition(client, generation, tp, rs) for tp, rs in batches.items())
        )
        if batches:
            await self._commit_batch(client, set(batches))
        self._update_lag(client)

    async def _commit_batch(
        self, client: AIOKafkaConsumer, partitions: set[TopicPartition]
    ) -> None:
        """Commit a handled batch without holding up the next fetch: the group's offsets go out
        in a task, after the previous batch's (so they land in order). A consumer that owns its
        offsets stores them with its output now, before the next batch adds to that output."""
        if self.consumer.owns_offsets:
            async with self._gate.exclusive():
                await self._commit(client, partitions, "batch")
            return
        await self._committed()
        self._committing = asyncio.create_task(
            self._commit(client, partitions, "batch"), name=f"{self.name}-commit"
        )

    async def _committed(self) -> None:
        """Wait for the batch commit in flight, if any (it logs its own failure)."""
        task, self._committing = self._committing, None
        if task is not None:
            await task

    async def _handle_partition(
        self, client: AIOKafkaConsumer, generation: int, tp: TopicPartition, records: list[Any]
    ) -> None:
        if not self.consumer.parallel_keys:
            await self._handle_run(client, generation, tp, records, track=True)
            return
        # Different keys (sessions) of one partition run concurrently, each in order. The
        # partition's offset moves only once the whole batch is done; an interrupted batch is
        # fetched again from the committed offset (handlers are idempotent).
        runs: dict[bytes | None, list[Any]] = {}
        for message in records:
            runs.setdefault(message.key, []).append(message)
        done = await asyncio.gather(
            *(self._handle_run(client, generation, tp, run, track=False) for run in runs.values())
        )
        if all(done):
            self._processed[tp] = self._positions[tp] = records[-1].offset + 1

    async def _handle_run(
        self,
        client: AIOKafkaConsumer,
        generation: int,
        tp: TopicPartition,
        records: list[Any],
        *,
        track: bool,
    ) -> bool:
        """Handle `records` in order; False when stopped early (stop or rebalance)."""
        if self.consumer.takes_batches:
            return await self._handle_batch(client, generation, tp, records, track=track)
        for message in records:
            if self._stopping.is_set():
                return False
            async with self._gate.shared():
                if self._stale(client, generation, tp, message, track=track):
                    return False
                try:
                    await self._handle_one(message)
                except _StoppingError:
                    return False
                if track:
                    self._processed[tp] = self._positions[tp] = message.offset + 1
        return True

    async def _handle_batch(
        self,
        client: AIOKafkaConsumer,
        generation: int,
        tp: TopicPartition,
        records: list[Any],
        *,
        track: bool,
    ) -> bool:
        """`_handle_run` for a consumer that takes batches: one pass through the gate, one
        handler call and one metrics update for the whole run."""
        if self._stopping.is_set():
            return False
        async with self._gate.shared():
            if self._stale(client, generation, tp, records[0], track=track):
                return False
            try:
                await self._handle_many(records)
            except _StoppingError:
                return False
            if track:
                self._processed[tp] = self._positions[tp] = records[-1].offset + 1
        return True

    def _stale(
        self, client: AIOKafkaConsumer, generation: int, tp: TopicPartition, first: Any, *,
        track: bool,
    ) -> bool:  # fmt: skip
        """True when a rebalance happened since the fetch: the records from `first` on go back
        to the fetcher (a consumer that owns its offsets was already sought to its store)."""
        if generation == self._generation:
            return False
        if track and tp in client.assignment() and not self.consumer.owns_offsets:
            client.seek(tp, first.offset)
        return True

    async def _handle_one(self, message: Any) -> None:
        try:
            record = self._parse(message)
        except BadRecordError as exc:
            await self._reject(message, exc)
            return
        started = time.perf_counter()
        error = await self._with_retries(self.consumer.handle, record)
        self._handler_seconds.observe(time.perf_counter() - started)
        if error is None:
            self._handled.inc()
            return
        log.error(
            "record_failed",
            consumer=self.name,
            kind=error.kind,
            event_id=record.event_id,
            session_id=record.session_id,
            partition=record.partition,
            offset=record.offset,
            error=str(error),
        )
        await self._dead_letter(message, error)

    async def _handle_many(self, messages: list[Any]) -> None:
        """Dead-letter the records that are not events, hand the others to `handle_batch`; a
        batch that fails is handled again record by record (only the failing one dead-lettered)."""
        parsed: list[Any] = []  # the messages that are events
        events: list[EventRecord] = []
        for message in messages:
            try:
                events.append(self._parse(message))
            except BadRecordError as exc:
                await self._reject(message, exc)
            else:
                parsed.append(message)
        if not events:
            return
        started = time.perf_counter()
        error = await self._with_retries(self.consumer.handle_batch, events)
        self._handler_seconds.observe(time.perf_counter() - started)
        if error is None:
            self._handled.inc(len(events))
            return
        log.warning("batch_failed", consumer=self.name, kind=error.kind, records=len(events),
                    error=str(error))  # fmt: skip
        for message in parsed:
            await self._handle_one(message)

    def _parse(self, message: Any) -> EventRecord:
        """The record as the consumer reads it; raises `BadRecordError`."""
        return self.consumer.parse_record(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            headers={key: value or b"" for key, value in (message.headers or ())},
            timestamp_ms=message.timestamp,
        )

    async def _reject(self, message: Any, exc: BadRecordError) -> None:
        """Count, log and dead-letter a record that is not an event."""
        self._count_error(exc)
        log.warning(
            "record_not_an_event",
            consumer=self.name,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            error=str(exc),
        )
        await self._dead_letter(message, exc)

    async def _with_retries(
        self, handler: Callable[[_Item], Awaitable[None]], item: _Item
    ) -> ConsumerError | None:
        attempt = 0
        while True:
            try:
                await handler(item)
            except ConsumerError as exc:
                error = exc
            except ApiError as exc:  # the Managed Agents client's: it says whether to retry
                error = ConsumerError(str(exc), retriable=exc.retriable, kind="api")
            except Exception as exc:  # noqa: BLE001 - a consumer bug must not stop the others
                error = ConsumerError(f"{type(exc).__name__}: {exc}", kind="unexpected")
            else:
                return None
            self._count_error(error)
            attempt += 1
            if not error.retriable or attempt >= self.settings.max_attempts:
                return error
            await self._backoff(attempt, error)

    async def _backoff(self, attempt: int, error: ConsumerError) -> None:
        delay = self.settings.backoff().delay(attempt - 1)  # attempts count from 1 here
        log.info(
            "record_retry",
            consumer=self.name,
            attempt=attempt,
            kind=error.kind,
            delay_ms=round(delay * 1000),
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)
        if self._stopping.is_set():
            raise _StoppingError

    async def _dead_letter(self, message: Any, error: ConsumerError) -> None:
        await self._dead_letters.send(message, error)
        metrics.RECORDS.labels(self.name, "dead_lettered").inc()

    def _count_error(self, error: ConsumerError) -> None:
        metrics.ERRORS.labels(self.name, error.kind).inc()

    async def _commit(
        self, client: AIOKafkaConsumer, partitions: set[TopicPartition], reason: str
    ) -> None:
        assigned = client.assignment()
        offsets = {
            tp: self._processed.pop(tp)
            for tp in partitions
            if tp in self._processed and tp in assigned
        }
        if not offsets:
            return
        try:
            if self.consumer.owns_offsets:
                await self.consumer.commit({tp.partition: o for tp, o in offsets.items()}, reason)
            else:
                await client.commit(offsets)
        except Exception as exc:  # noqa: BLE001 - a failed commit means a redelivery, not a crash
            metrics.ERRORS.labels(self.name, "commit").inc()
            log.warning("commit_failed", consumer=self.name, reason=reason, error=repr(exc))
            if self.consumer.owns_offsets and reason != "stop":
                await self._rewind(client, set(offsets) & client.assignment())
            return
        metrics.COMMITS.labels(self.name, reason).inc()

    async def _rewind(self, client: AIOKafkaConsumer, partitions: set[TopicPartition]) -> None:
        """Seek `partitions` to where the consumer's durable state ends (it reloads that state).

        Called on assignment and after a failed `commit`; batches fetched before the seeks are
        stale, including those fetched while the positions load: on assignment aiokafka resets
        a partition without a group offset to `auto_offset_reset` on its own, and a batch it
        fetched from there meanwhile would otherwise be handled as current (counted twice).
        """
        if not partitions:
            return
        self._generation += 1
        stored = await self.consumer.positions({tp.partition for tp in partitions})
        fresh = [tp for tp in partitions if stored.get(tp.partition) is None]
        # A plain seek to the beginning's offset, not `seek_to_beginning`: that one resets lazily,
        # and a fetch already under way was then handed over before the reset and again after.
        beginnings = await client.beginning_offsets(fresh) if fresh else {}
        for tp in partitions:
            self._processed.pop(tp, None)
            position = stored.get(tp.partition)
            if position is None:
                position = int(beginnings[tp])
            client.seek(tp, position)
            self._positions[tp] = position
        self._generation += 1  # what was fetched while `positions` loaded is stale too
        log.info(
            "partitions_rewound",
            consumer=self.name,
            positions={tp.partition: stored.get(tp.partition, "beginning") for tp in partitions},
        )

    def _update_lag(self, client: AIOKafkaConsumer) -> None:
        for tp in client.assignment():
            highwater, position = client.highwater(tp), self._positions.get(tp)
            if highwater is not None and position is not None:
                metrics.LAG.labels(self.name, str(tp.partition)).set(max(0, highwater - position))

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Wait for the record in hand, commit what was handled, tell the consumer."""
        client = self._client
        await self._committed()
        async with self._gate.exclusive():
            self._generation += 1 if revoked else 0
            if client is not None:
                await self._commit(client, revoked, "revoke")
            await self.consumer.on_revoked({tp.partition for tp in revoked})
        log.info(
            "partitions_revoked",
            consumer=self.name,
            partitions=sorted(tp.partition for tp in revoked),
        )

    async def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Tell the consumer which partitions it owns now."""
        for tp in assigned:
            self._processed.pop(tp, None)
        client = self._client
        if self.consumer.owns_offsets and client is not None:
            async with self._gate.exclusive():
                await self._rewind(client, assigned)
        await self.consumer.on_assigned({tp.partition for tp in assigned})
        log.info(
            "partitions_assigned",
            consumer=self.name,
            partitions=sorted(tp.partition for tp in assigned),
        )
