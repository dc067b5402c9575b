"""The archive consumer's metrics; labels from fixed vocabularies only."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROWS = Counter("agents_archive_rows", "Rows written to the table.")
COVERED = Counter(
    "agents_archive_rows_covered",
    "Buffered rows dropped because the table already held them (another writer, a redelivery).",
)
COMMITS = Counter(
    "agents_archive_commits",
    "Delta commits, by outcome (committed, conflict, failed).",
    ["outcome"],
)
PROBLEMS = Counter(
    "agents_archive_problems",
    "Bad input and trouble: no_processed_at, bad_processed_at, bad_text, store_error,"
    " table_changed, table_missing, conflict, backpressure, drain_timeout, redelivered,"
    " unexpected.",
    ["kind"],
)
BUFFERED_ROWS = Gauge("agents_archive_buffered_rows", "Rows handled but not yet in the table.")
BUFFERED_BYTES = Gauge("agents_archive_buffered_bytes", "Bytes of events not yet in the table.")
FLUSH_SECONDS = Histogram(
    "agents_archive_flush_seconds",
    "One write to the table (data files and commit).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
STALENESS_SECONDS = Histogram(
    "agents_archive_staleness_seconds",
    "From the oldest row of a write reaching Kafka to the write's commit.",
    buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 120, 300),
)
