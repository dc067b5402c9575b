"""`Writer`: the buffered rows of every partition, written to the table exactly once.

A write seals the partitions' open rows, then (in a worker thread) reads the table's txn
version of each partition, drops the rows the table already holds (another replica's, a
zombie's, a commit whose answer was lost), and appends the rest with the new versions in one
Delta commit. When another writer commits the same partitions meanwhile, Delta's conflict check
refuses ours and the write starts over from a fresh read, so no row is ever there twice.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
import time
from collections.abc import Iterable

import pyarrow as pa
import structlog

from consumers.archive import metrics
from consumers.archive.buffer import PartitionBuffer, Sealed
from consumers.archive.errors import ArchiveError
from consumers.archive.schema import Anomaly
from consumers.archive.store import ArchiveTable
from consumers.base import EventRecord

log = structlog.get_logger(__name__)

CONFLICT_RETRIES = 20  # conflicts are other writers' progress: retry at once, with a fresh read


class Writer:
    """Per-partition buffers and the writes that empty them; one write at a time."""

    def __init__(self, table: ArchiveTable, topic: str) -> None:
        self.table = table
        self.topic = topic
        self.buffers: dict[int, PartitionBuffer] = {}
        self.lock = asyncio.Lock()  # writes, position loads and drops never interleave
        self.last_write = 0.0  # monotonic time of the last successful write
        self.raw_bytes = 0  # bytes of events not yet in the table (kept as rows come and go)

    def append(self, record: EventRecord) -> list[str] | None:
        """Buffer one event's row; the anomalies met (metric labels); None: a redelivery."""
        anomalies, redelivered = self.extend([record])
        return None if redelivered else [kind for _, kind in anomalies]

    def extend(self, records: list[EventRecord]) -> tuple[list[Anomaly], int]:
        """Buffer the events' rows (each partition's in offset order); the anomalies met, and
        how many records were redeliveries (already buffered: not added again)."""
        anomalies: list[Anomaly] = []
        redelivered = 0
        for partition, group in itertools.groupby(records, operator.attrgetter("partition")):
            buffer = self.buffers.setdefault(partition, PartitionBuffer())
            before = buffer.open.raw_bytes
            found, again = buffer.extend(list(group))
            self.raw_bytes += buffer.open.raw_bytes - before
            anomalies += found
            redelivered += again
        return anomalies, redelivered

    def note_committable(self, offsets: dict[int, int]) -> None:
        """The runner's next offsets to handle: what a write of these partitions may record."""
        for partition, offset in offsets.items():
            self.buffers.setdefault(partition, PartitionBuffer()).committable = offset

    def oldest_ms(self) -> float | None:
        """When the oldest unwritten row reached Kafka; None: nothing waits."""
        found = [t for b in self.buffers.values() if (t := b.oldest_ms) is not None]
        return min(found) if found else None

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget these partitions' rows (revoked, or about to be reloaded from the table)."""
        for partition in partitions:
            self.buffers.pop(partition, None)
        self.raw_bytes = sum(b.raw_bytes for b in self.buffers.values())
        self.update_gauges()

    async def positions(self, partitions: set[int]) -> dict[int, int]:
        """Drop these partitions' rows and read where the table has them end (may raise)."""
        async with self.lock:
            self.drop(partitions)
            return await asyncio.to_thread(self.table.versions, self.topic, partitions)

    async def write(self, partitions: Iterable[int] | None = None) -> int:
        """Write the buffered rows of `partitions` (default all); rows written. May raise."""
        async with self.lock:
            chosen = sorted(
                self.buffers if partitions is None else set(partitions) & set(self.buffers)
            )
            for partition in chosen:
                self.buffers[partition].seal()
            chosen = [p for p in chosen if self.buffers[p].sealed]
            if not chosen:
                return 0
            started = time.perf_counter()
            jobs = {p: list(self.buffers[p].sealed) for p in chosen}
            try:
                written = await asyncio.to_thread(self._write_sealed, jobs)
            except ArchiveError:
                raise
            except Exception as exc:  # a bug must not end the flusher: the rows stay, retried
                raise ArchiveError(f"{type(exc).__name__}: {exc}", kind="unexpected") from exc
            metrics.FLUSH_SECONDS.observe(time.perf_counter() - started)
            oldest = min(self.buffers[p].sealed[0].oldest_ms for p in chosen)
            metrics.STALENESS_SECONDS.observe(max(0.0, time.time() - oldest / 1000))
            for partition in chosen:
                del self.buffers[partition].sealed[: len(jobs[partition])]
            self.raw_bytes = sum(b.raw_bytes for b in self.buffers.values())
            self.last_write = time.monotonic()
            self.update_gauges()
            return written

    def _write_sealed(self, jobs: dict[int, list[Sealed]]) -> int:
        """Blocking: append the rows the table lacks with their versions; retry conflicts."""
        partitions = sorted(jobs)
        for _ in range(CONFLICT_RETRIES):
            table_next = self.table.versions(self.topic, partitions)
            parts: list[pa.Table] = []
            versions: dict[int, int] = {}
            covered = 0
            for partition in partitions:
                sealed = jobs[partition]
                target = sealed[-1].next_offset
                if table_next.get(partition, -1) >= target:
                    covered += sum(s.rows.num_rows for s in sealed)
                    continue
                fresh = [s.unless_covered(table_next.get(partition)) for s in sealed]
                covered += sum(s.rows.num_rows for s in sealed) - sum(t.num_rows for t in fresh)
                parts.extend(fresh)
                versions[partition] = target
            if covered:
                metrics.COVERED.inc(covered)
                log.info("archive_rows_covered", rows=covered, partitions=partitions)
            if not versions:
                return 0
            data = pa.concat_tables(parts)
            try:
                self.table.append(data, self.topic, versions)
            except ArchiveError as exc:
                if exc.kind != "conflict":
                    raise
                metrics.COMMITS.labels("conflict").inc()
                metrics.PROBLEMS.labels("conflict").inc()
                log.info("archive_commit_conflict", partitions=sorted(versions))
                continue
            metrics.COMMITS.labels("committed").inc()
            metrics.ROWS.inc(data.num_rows)
            log.info("archive_written", rows=data.num_rows, versions=versions)
            return int(data.num_rows)
        raise ArchiveError("the table kept changing under every commit", kind="conflict")

    def update_gauges(self) -> None:
        """Refresh the buffered rows/bytes gauges."""
        metrics.BUFFERED_ROWS.set(sum(b.rows for b in self.buffers.values()))
        metrics.BUFFERED_BYTES.set(self.raw_bytes)
