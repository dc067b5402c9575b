"""`KafkaSink`: the streamer's `Sink` on Kafka, exactly once (or at least once).

Followers `publish` into a bounded buffer; one flusher task takes a batch every
`commit_interval_ms` (sooner when `max_batch_events` are waiting) and writes it with each touched
session's checkpoint in one transaction. A transient failure stops the producer, waits with
backoff, starts a new one (which aborts the failed transaction) and writes the same batch again,
so nothing is lost, nothing is doubled and per-session order holds. Before committing a batch the
sink confirms, by reading it back, that the batch committed before it is visible, and it confirms
the last one at stop: a commit reported successful but lost (seen across broker restarts) is
written again, ahead of what follows. A fatal failure (fenced by another instance) stops the sink:
`publish` raises it from then on.

A sink built with `recover=False` (a fleet lane's) never starts a second producer: any failure
stops it. Its transactional id may belong to the partition's next owner by then, and a restarted
producer would fence that owner and write on from this instance's stale checkpoints, doubling
what the owner has published since. The lane is started afresh from the committed checkpoints
instead (`streamer.fleet`).

    async with KafkaSink(KafkaSettings(), SinkSettings()) as sink:
        resume = await sink.checkpoints()
        await sink.publish(event)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import structlog

from streamer.events import Checkpoint, SessionEvent
from streamer.kafka import metrics
from streamer.kafka.admin import (
    ensure_topics,
    load_checkpoints,
    topic_specs,
)
from streamer.kafka.batch import Batch, prepare_batch
from streamer.kafka.buffer import EventBuffer, Item, SessionFinished
from streamer.kafka.checkpoints import CheckpointBook
from streamer.kafka.config import KafkaSettings
from streamer.kafka.deltas import DeltaPublisher
from streamer.kafka.errors import (
    AmbiguousCommitError,
    SinkError,
    SinkStoppedError,
    SinkTransientError,
    classify,
)
from streamer.kafka.readback import ReadBack
from streamer.kafka.records import RecordFormat
from streamer.kafka.settings import SinkSettings
from streamer.kafka.visibility import Visibility
from streamer.kafka.writers import Writer, make_writer
from streamer.resource import AsyncResource

log = structlog.get_logger(__name__)


class KafkaSink(AsyncResource):
    """The Kafka implementation of `streamer.sink.Sink`; `stop` is safe twice."""

    def __init__(
        self,
        kafka: KafkaSettings | None = None,
        settings: SinkSettings | None = None,
        *,
        keep: Callable[[str], bool] | None = None,
        recover: bool = True,
    ) -> None:
        """`keep(session_id)`: which sessions' checkpoints to hold (default: all of them);
        `recover`: retry a failed write on a new producer (False: the failure stops the sink)."""
        self._keep = keep
        self._recover = recover
        self.kafka = kafka or KafkaSettings()
        self.settings = settings or SinkSettings()
        self.format = RecordFormat(
            source=self.settings.event_source,
            events_topic=self.kafka.events_topic,
            checkpoints_topic=self.kafka.checkpoints_topic,
            dead_letter_topic=self.kafka.dead_letter_topic,
        )
        self._buffer = EventBuffer(self.settings.buffer_max_events, self.settings.buffer_max_bytes)
        self._book = CheckpointBook()
        self._writer: Writer | None = None
        self._deltas: DeltaPublisher | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._accepted = 0  # items accepted by `publish`/`finish`
        self._done = 0  # items committed (or routed) by the flusher
        self._progress = asyncio.Event()
        self._limits: dict[str, int] = {}
        self._readback = ReadBack(
            self.kafka,
            enabled=self.settings.mode == "exactly_once",
            timeout_s=self.settings.request_timeout_ms / 1000,
        )
        self.failure: SinkError | None = None

    async def start(self) -> None:
        """Create missing topics, claim the transactional id, load checkpoints, start flushing."""
        specs = topic_specs(self.kafka, self.settings)
        topics = await ensure_topics(self.kafka, self.settings, specs)
        self._limits = {name: info.max_message_bytes for name, info in topics.items()}
        if self.settings.max_message_bytes is not None:  # a stricter limit than the topic's
            events = self.kafka.events_topic
            self._limits[events] = min(self._limits[events], self.settings.max_message_bytes)
        writer = make_writer(self.kafka, self.settings, self._limits)
        await writer.start()
        self._writer = writer
        try:
            loaded = await load_checkpoints(
                self.kafka,
                self.kafka.checkpoints_topic,
                topics[self.kafka.checkpoints_topic].partitions,
            )
            if self._keep is not None:
                loaded = {sid: cp for sid, cp in loaded.items() if self._keep(sid)}
            self._book = CheckpointBook(
                loaded, retention_secs=self.settings.finished_retention_secs
            )
            await self._readback.start()
            if self.settings.deltas_enabled:
                self._deltas = DeltaPublisher(self.kafka, self.settings)
                await self._deltas.start()
        except BaseException:
            await self._close_clients()
            raise
        self._flusher = asyncio.create_task(self._flush_loop(), name="kafka-sink-flusher")
        log.info("sink_started", mode=self.settings.mode, checkpoints=len(self._book.committed))

    async def stop(self) -> None:
        """Flush what is buffered (within `stop_timeout_ms`), commit, and close the clients."""
        if self._stopping:
            return
        self._stopping = True
        self._buffer.close()
        self._buffer.wake()
        if self._flusher is not None:
            await self._await_flusher()
        await self._close_clients()
        self._book.close()
        log.info("sink_stopped", uncommitted=self._accepted - self._done)

    async def _await_flusher(self) -> None:
        assert self._flusher is not None
        done, _ = await asyncio.wait([self._flusher], timeout=self.settings.stop_timeout_ms / 1000)
        if not done:
            log.error("sink_stop_timeout", uncommitted=self._accepted - self._done)
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _close_clients(self) -> None:
        if self._writer is not None:
            await self._writer.stop()
        await self._readback.stop()
        if self._deltas is not None:
            await self._deltas.stop()

    @property
    def pending(self) -> int:
        """Items accepted but not yet committed (buffered plus the batch being written)."""
        return self._accepted - self._done

    @property
    def buffered_bytes(self) -> int:
        """Event bytes waiting in the buffer (the batch being written not included)."""
        return self._buffer.bytes

    async def checkpoints(self) -> Mapping[str, Checkpoint]:
        """The last committed resume point of every session (loaded at start, then kept)."""
        return dict(self._book.committed)

    def checkpoint(self, session_id: str) -> Checkpoint | None:
        """The last committed resume point of one session, or None."""
        return self._book.committed.get(session_id)

    async def publish(self, event: SessionEvent) -> None:
        """Buffer one event; waits while the buffer is full. Queued echoes are skipped."""
        if not event.processed_at:
            # A queued echo (`processed_at: null`); its processed twin comes later.
            metrics.ERRORS.labels(reason="queued_echo").inc()
            return
        await self._put(event)
        if event.type in self.settings.flush_now_types:
            self._wake.set()

    async def finish(self, session_id: str) -> None:
        """Mark the session finished in its checkpoint, after all its buffered events."""
        await self._put(SessionFinished(session_id))

    async def publish_preview(self, session_id: str, raw: bytes) -> None:
        """Send a delta preview to the deltas topic when enabled; best-effort, never blocks long."""
        if self._deltas is not None:
            await self._deltas.publish(session_id, raw)

    async def flush(self) -> None:
        """Wait until everything accepted so far is committed; raises if the sink failed."""
        target = self._accepted
        while self._done < target:
            if self.failure is not None:
                raise self.failure
            if self._flusher is None or self._flusher.done():
                raise SinkStoppedError("sink is not running")
            self._progress.clear()
            self._wake.set()
            await self._progress.wait()

    async def _put(self, item: Item) -> None:
        if self.failure is not None:
            raise self.failure
        await self._buffer.put(item)
        self._accepted += 1
        if len(self._buffer) >= self.settings.max_batch_events:
            self._wake.set()

    async def _flush_loop(self) -> None:
        try:
            while (taken := await self._next_batch()) is not None:
                items, oldest_at = taken
                batch = prepare_batch(items, oldest_at, self.format, self._book, self._limits)
                await self._write(batch)
            await self._confirm_last()
        except Exception as exc:
            self.failure = classify(exc)
            self._buffer.close(self.failure)
            metrics.ERRORS.labels(reason="fatal").inc()
            log.exception("sink_failed", error=type(exc).__name__)
        finally:
            self._progress.set()

    async def _next_batch(self) -> tuple[list[Item], float] | None:
        interval = self.settings.commit_interval_ms / 1000
        while True:
            oldest = self._buffer.oldest_at()
            if oldest is None:
                if self._stopping:
                    return None
                await self._buffer.wait_ready()
                continue
            remaining = oldest + interval - time.monotonic()
            full = len(self._buffer) >= self.settings.max_batch_events
            if remaining > 0 and not full and not self._stopping and not self._wake.is_set():
                try:
                    async with asyncio.timeout(remaining):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            self._wake.clear()
            metrics.BUFFER_EVENTS.set(len(self._buffer))
            metrics.BUFFER_BYTES.set(self._buffer.bytes)
            return self._buffer.take(self.settings.max_batch_events), oldest

    async def _write(self, batch: Batch, *, recovering: bool = False) -> None:
        attempt = 0
        unresolved: AmbiguousCommitError | None = None
        while True:
            started = time.monotonic()
            try:
                if unresolved is not None and await self._was_committed(unresolved):
                    batch.marker = unresolved.marker
                    break
                unresolved = None
                await self._write_once(batch, recovering=recovering or attempt > 0)
                break
            except Exception as exc:
                error = classify(exc)
                metrics.TRANSACTIONS.labels(outcome="aborted").inc()
                await self._writer_stop()
                if not error.retriable or not self._recover:
                    raise error from exc
                if isinstance(error, AmbiguousCommitError):
                    unresolved = error
                attempt += 1
                await self._backoff(attempt, error)
        metrics.COMMIT_SECONDS.observe(time.monotonic() - started)
        self._readback.committed(batch)
        self._committed(batch)

    async def _was_committed(self, error: AmbiguousCommitError) -> bool:
        """After a commit with an unknown outcome: restart the writer (which settles the old
        transaction one way or the other), then look whether its records are visible."""
        await self._writer_start()
        committed = await self._readback.settled(error.marker)
        log.warning("sink_commit_resolved", committed=committed)
        return committed

    async def _write_once(self, batch: Batch, *, recovering: bool) -> None:
        """Write `batch`; the batch committed before it must be visible before this one commits.

        Normally that is confirmed while this batch is being sent (`ReadBack.confirm_last`) and
        awaited before the commit. After a failure it is settled first, on the restarted
        producer, and a lost batch is written again ahead of this one, in the same transaction;
        this one is then checked after its commit."""
        writer = await self._writer_start()
        if recovering:
            await self._write_recovering(writer, batch)
            return
        confirmed = asyncio.ensure_future(self._readback.confirm_last())
        try:
            batch.marker = await writer.write(
                batch.event_records(self.format),
                batch.checkpoint_records,
                before_commit=lambda: confirmed,
            )
        finally:
            if not confirmed.done():
                confirmed.cancel()  # sending failed first: the retry settles the check
            elif not confirmed.cancelled():
                confirmed.exception()  # retrieved: write() has raised it or sending failed

    async def _write_recovering(self, writer: Writer, batch: Batch) -> None:
        lost = await self._readback.lost_last()
        pending = lost.then(batch) if lost is not None else batch
        batch.marker = await writer.write(
            pending.event_records(self.format), pending.checkpoint_records
        )
        if batch.marker is not None:
            if not await self._readback.settled(batch.marker):
                metrics.ERRORS.labels(reason="commit_lost").inc()
                raise SinkTransientError("a committed batch is not visible")
            batch.verified = True

    async def _confirm_last(self) -> None:
        """At stop, after the last write: confirm the last batch, writing it again if lost (when
        not `recover`, whoever starts next on the transactional id settles it)."""
        if self._recover and await self._readback.check_last() is not Visibility.VISIBLE:
            await self._writer_stop()  # a new producer settles the transaction either way
            await self._write(Batch.empty(), recovering=True)

    async def _writer_start(self) -> Writer:
        assert self._writer is not None
        if not self._writer.started:
            await self._writer.start()
        return self._writer

    async def _writer_stop(self) -> None:
        assert self._writer is not None
        await self._writer.stop()

    async def _backoff(self, attempt: int, error: SinkError) -> None:
        metrics.ERRORS.labels(reason="transient").inc()
        delay = self.settings.backoff().delay(attempt)
        log.warning(
            "sink_batch_retry", attempt=attempt, error=str(error), delay_ms=int(delay * 1000)
        )
        await asyncio.sleep(delay)

    def _committed(self, batch: Batch) -> None:
        self._book.commit(batch.staged)
        self._done += batch.items
        batch.record_metrics()
        metrics.PUBLISH_LATENCY_SECONDS.observe(time.monotonic() - batch.oldest_at)
        oldest = self._buffer.oldest_at()
        metrics.CHECKPOINT_LAG_SECONDS.set(0 if oldest is None else time.monotonic() - oldest)
        self._progress.set()
