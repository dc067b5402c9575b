"""`ArchiveConsumer`: every event of the topic, exactly once, in a Delta Lake table.

It owns its offsets (`Consumer.owns_offsets`): the table's Delta application transactions say,
per partition, the next offset to archive, and the runner seeks there on assignment. Rows are
buffered per partition and written by a background flusher when enough bytes wait or the oldest
row has waited `flush_max_age_secs`; a revocation or stop writes what its partitions hold. A
write that fails is retried with backoff while the rows stay buffered; past `max_buffer_bytes`
`handle` waits, so the consumer stops reading rather than dropping anything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import time
from typing import Any

import structlog

from consumers.archive import metrics
from consumers.archive.config import ArchiveSettings
from consumers.archive.errors import ArchiveError
from consumers.archive.store import ArchiveTable
from consumers.archive.writer import Writer
from consumers.base import Consumer, ConsumerContext, EventRecord
from consumers.errors import TransientError

log = structlog.get_logger(__name__)

TICK_SECS = 0.25


class ArchiveConsumer(Consumer):
    """The archiver (`streamer consume archive --uri URI`)."""

    name = "archive"
    owns_offsets = True
    takes_batches = True  # a fetched run of records becomes rows in one call

    def __init__(self, settings: ArchiveSettings | None = None) -> None:
        self.settings = settings or ArchiveSettings()
        self.table = ArchiveTable(self.settings.uri, self.settings.delta_storage_options())
        self.writer: Writer | None = None
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._closing = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """`--uri` (the table), `--flush-max-age-secs`."""
        parser.add_argument("--uri", help="archive: the Delta table (path or s3://bucket/prefix)")
        parser.add_argument(
            "--flush-max-age-secs", type=float, help="archive: longest wait before rows are written"
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ArchiveConsumer:
        """Settings from the environment (`ARCHIVE_*`), overridden by the command line."""
        overrides: dict[str, Any] = {}
        for arg in ("uri", "flush_max_age_secs"):
            if getattr(args, arg, None) is not None:
                overrides[arg] = getattr(args, arg)
        return cls(ArchiveSettings(**overrides))

    async def start(self, ctx: ConsumerContext) -> None:
        """Start the flusher (the table is opened, or created, at the first assignment)."""
        self.writer = Writer(self.table, ctx.kafka.events_topic)
        self._flusher = asyncio.create_task(self._flush_loop(), name="archive-flusher")
        log.info("archive_started", uri=self.settings.uri,
                 flush_max_age_secs=self.settings.flush_max_age_secs)  # fmt: skip

    async def stop(self) -> None:
        """Write what is buffered (within `drain_timeout_secs`), stop the flusher; safe twice."""
        if self.writer is not None and self.writer.buffers:
            with contextlib.suppress(ArchiveError, TransientError):
                await self._drain(None, "stop")
        self._closing.set()
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    async def handle(self, record: EventRecord) -> None:
        """Buffer the event's row (`handle_batch` of one)."""
        await self.handle_batch([record])

    async def handle_batch(self, records: list[EventRecord]) -> None:
        """Buffer the events' rows; wait whenever too much is unwritten (backpressure), so the
        buffer ends at most one row past `max_buffer_bytes` per partition, as with `handle`."""
        writer = self._writer()
        while records:
            taken = _fitting(records, self.settings.max_buffer_bytes - writer.raw_bytes)
            self._buffer(writer, records[:taken] if taken < len(records) else records)
            records = records[taken:]
            if writer.raw_bytes >= self.settings.flush_max_bytes:
                self._wake.set()
            if writer.raw_bytes >= self.settings.max_buffer_bytes:
                await self._wait_for_room(writer)

    def _buffer(self, writer: Writer, records: list[EventRecord]) -> None:
        anomalies, redelivered = writer.extend(records)
        if redelivered:
            metrics.PROBLEMS.labels("redelivered").inc(redelivered)
        for record, anomaly in anomalies:
            metrics.PROBLEMS.labels(anomaly).inc()
            log.warning("archive_event_anomaly", kind=anomaly, event_id=record.event_id,
                        session_id=record.session_id, offset=record.offset)  # fmt: skip

    async def positions(self, partitions: set[int]) -> dict[int, int]:
        """What the table holds of these partitions: the next offset of each (retried)."""
        attempt = 0
        while True:
            try:
                found = await self._writer().positions(partitions)
            except ArchiveError as exc:
                if self._closing.is_set():
                    raise
                delay = self.settings.backoff().delay(attempt)
                attempt += 1
                self._problem(exc, "positions", delay)
                await asyncio.sleep(delay)
                continue
            log.info("archive_positions", positions=found)
            return found

    async def commit(self, offsets: dict[int, int], reason: str) -> None:
        """Note the runner's offsets; on revoke and stop, write these partitions now."""
        writer = self._writer()
        writer.note_committable(offsets)
        if reason in ("revoke", "stop"):
            await self._drain(set(offsets), reason)

    async def on_revoked(self, partitions: set[int]) -> None:
        """Write what these partitions hold, then let them go."""
        writer = self._writer()
        try:
            await self._drain(partitions, "revoke")
        finally:
            writer.drop(partitions)

    async def _drain(self, partitions: set[int] | None, reason: str) -> None:
        """Write `partitions` now, retrying until `drain_timeout_secs`; raise if it cannot."""
        writer = self._writer()
        deadline = time.monotonic() + self.settings.drain_timeout_secs
        for attempt in itertools.count():
            try:
                await writer.write(partitions)
            except ArchiveError as exc:
                delay = self.settings.backoff().delay(attempt)
                if time.monotonic() + delay > deadline:
                    raise _gave_up(exc, reason) from exc
                self._problem(exc, reason, delay)
                await asyncio.sleep(delay)
            else:
                self._drained.set()
                return

    async def _flush_loop(self) -> None:
        """Write when enough bytes wait or the oldest row is old enough; back off on failure."""
        failures = 0
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_SECS)
            self._wake.clear()
            if not self._due():
                continue
            try:
                await self._writer().write()
            except ArchiveError as exc:
                delay = self.settings.backoff().delay(failures)
                failures += 1
                self._problem(exc, "flush", delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            self._drained.set()

    def _due(self) -> bool:
        writer = self._writer()
        if writer.raw_bytes >= self.settings.flush_max_bytes:
            return True
        oldest = writer.oldest_ms()
        if oldest is None:
            return False
        spaced = time.monotonic() - writer.last_write >= self.settings.flush_min_interval_secs
        return spaced and time.time() - oldest / 1000 >= self.settings.flush_max_age_secs

    async def _wait_for_room(self, writer: Writer) -> None:
        metrics.PROBLEMS.labels("backpressure").inc()
        log.warning("archive_backpressure", buffered_bytes=writer.raw_bytes)
        while writer.raw_bytes >= self.settings.max_buffer_bytes:
            self._drained.clear()
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), 1.0)

    def _problem(self, exc: ArchiveError, during: str, delay: float) -> None:
        metrics.PROBLEMS.labels(exc.kind).inc()
        log.warning("archive_write_failed", during=during, kind=exc.kind, error=str(exc),
                    retry_in_ms=round(delay * 1000))  # fmt: skip

    def _writer(self) -> Writer:
        if self.writer is None:
            raise RuntimeError("ArchiveConsumer used before start()")
        return self.writer


def _fitting(records: list[EventRecord], room: int) -> int:
    """How many of `records` to buffer before waiting for `room` bytes: those that fit, and the
    one that fills it (at least one)."""
    for taken, record in enumerate(records, 1):
        room -= len(record.raw)
        if room <= 0:
            return taken
    return len(records)


def _gave_up(exc: ArchiveError, reason: str) -> TransientError:
    """Count and log rows left unwritten at a revoke or stop (Kafka still has them)."""
    metrics.PROBLEMS.labels("drain_timeout").inc()
    log.error("archive_drain_failed", reason=reason, kind=exc.kind, error=str(exc))
    return TransientError(f"archive: rows not written on {reason}")
