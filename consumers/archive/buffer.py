"""Rows waiting to be written, per Kafka partition, in offset (so per-session) order.

A partition's rows are appended to a `RowBuilder`; a write first *seals* them into an immutable
table (with the offset the write will record), so handling goes on while the write is in flight
and a failed write is simply tried again with the same rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from consumers.archive.schema import Anomaly, RowBuilder
from consumers.base import EventRecord


@dataclass
class Sealed:
    """Rows of one partition taken for a write, and the next offset the write records."""

    rows: pa.Table
    next_offset: int
    raw_bytes: int
    oldest_ms: float

    def unless_covered(self, table_next: int | None) -> pa.Table:
        """The rows the table does not hold yet (it holds every offset below `table_next`)."""
        if table_next is None:
            return self.rows
        return self.rows.filter(pc.greater_equal(self.rows["kafka_offset"], table_next))


@dataclass
class PartitionBuffer:
    """One partition's unwritten rows: sealed (taken by a write) and open (still growing)."""

    open: RowBuilder = field(default_factory=RowBuilder)
    sealed: list[Sealed] = field(default_factory=list)
    open_oldest_ms: float = 0.0
    open_last_offset: int = -1  # of the last row appended (kept across writes)
    committable: int = 0  # the runner's next offset to handle, as of its last commit

    def extend(self, records: list[EventRecord]) -> tuple[list[Anomaly], int]:
        """Add the rows of these records; their anomalies (`RowBuilder.extend`), and how many
        were redeliveries.

        The runner may hand a record twice (a fetch racing a seek); rows at or before the last
        one buffered are dropped here, so a write never holds one offset twice.
        """
        fresh, last = [], self.open_last_offset
        for record in records:
            if record.offset > last:
                fresh.append(record)
                last = record.offset
        if not fresh:
            return [], len(records)
        if not len(self.open):
            now_ms = time.time() * 1000
            self.open_oldest_ms = min(fresh[0].timestamp_ms or now_ms, now_ms)
        self.open_last_offset = last
        return self.open.extend(fresh), len(records) - len(fresh)

    def seal(self) -> None:
        """Take the open rows for the next write (with the offset it will record)."""
        if not len(self.open):
            return
        next_offset = max(self.committable, self.open_last_offset + 1)
        self.sealed.append(
            Sealed(self.open.to_table(), next_offset, self.open.raw_bytes, self.open_oldest_ms)
        )
        self.open = RowBuilder()

    @property
    def raw_bytes(self) -> int:
        """Bytes of events not yet written."""
        return self.open.raw_bytes + sum(s.raw_bytes for s in self.sealed)

    @property
    def rows(self) -> int:
        """Rows not yet written."""
        return len(self.open) + sum(int(s.rows.num_rows) for s in self.sealed)

    @property
    def oldest_ms(self) -> float | None:
        """When the oldest unwritten row reached Kafka (ms since the epoch); None: no rows."""
        if self.sealed:
            return self.sealed[0].oldest_ms
        return self.open_oldest_ms if len(self.open) else None
