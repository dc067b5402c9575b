"""The runner's per-consumer metrics (formerly `consumers/metrics.py`). Labels come from fixed
vocabularies: the consumer's name, an outcome, an error kind (`ConsumerError.kind`), a partition
number. Never an id or an exception message.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS = Counter(
    "agents_consumer_records",
    "Records processed, by outcome (handled, dead_lettered, skipped).",
    ["consumer", "outcome"],
)
ERRORS = Counter(
    "agents_consumer_errors",
    "Handler, record and commit errors, by kind.",
    ["consumer", "kind"],
)
HANDLER_SECONDS = Histogram(
    "agents_consumer_handler_seconds",
    "Time spent in the consumer's handler per record (per batch for consumers that take "
    "batches), retries included.",
    ["consumer"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LAG = Gauge(
    "agents_consumer_lag_records",
    "Records between the consumer's position and the partition's high watermark.",
    ["consumer", "partition"],
)
COMMITS = Counter(
    "agents_consumer_commits",
    "Offset commits, by reason (batch, revoke, stop).",
    ["consumer", "reason"],
)
