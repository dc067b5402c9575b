"""The sink's Prometheus metrics; label values come from the fixed vocabularies below.

Vocabularies: `topic_kind` in {events, dead_letter, checkpoints, deltas}; `outcome` in
{committed, aborted}; `reason` in {message_too_large, queued_echo, transient, fatal, send_failed,
bad_checkpoint, commit_lost}.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS = Counter(
    "agents_streamer_sink_records_total",
    "Records the sink has had acknowledged by Kafka, by topic kind.",
    ["topic_kind"],
)
RECORD_BYTES = Counter(
    "agents_streamer_sink_record_bytes_total",
    "Value bytes the sink has had acknowledged by Kafka, by topic kind.",
    ["topic_kind"],
)
TRANSACTIONS = Counter(
    "agents_streamer_sink_transactions_total",
    "Batches written (one Kafka transaction each in exactly-once mode), by outcome.",
    ["outcome"],
)
ERRORS = Counter(
    "agents_streamer_sink_errors_total",
    "Sink errors and routed events, by reason.",
    ["reason"],
)
DEAD_LETTERS = Counter(
    "agents_streamer_sink_dead_letters_total",
    "Events sent to the dead-letter topic instead of the events topic, by reason.",
    ["reason"],
)
BATCH_EVENTS = Histogram(
    "agents_streamer_sink_batch_events",
    "Events per written batch.",
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
)
COMMIT_SECONDS = Histogram(
    "agents_streamer_sink_commit_seconds",
    "Time to write and commit one batch.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PUBLISH_LATENCY_SECONDS = Histogram(
    "agents_streamer_sink_publish_latency_seconds",
    "From `publish` accepting an event to its batch being committed (oldest event per batch).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PUBLISH_WAIT_SECONDS = Counter(
    "agents_streamer_sink_publish_wait_seconds_total",
    "Time callers of `publish` spent waiting for room in the full buffer (backpressure).",
)
BUFFER_EVENTS = Gauge("agents_streamer_sink_buffer_events", "Events waiting in the sink's buffer.")
BUFFER_BYTES = Gauge(
    "agents_streamer_sink_buffer_bytes", "Value bytes waiting in the sink's buffer."
)
CHECKPOINT_LAG_SECONDS = Gauge(
    "agents_streamer_sink_checkpoint_lag_seconds",
    "Age of the oldest event accepted but not yet committed with its checkpoint (0 when idle).",
)
CHECKPOINTS_REMEMBERED = Gauge(
    "agents_streamer_sink_checkpoints_remembered",
    "Session checkpoints held in memory: live sessions plus those ended within the retention.",
)
CHECKPOINTS_FORGOTTEN = Counter(
    "agents_streamer_sink_checkpoints_forgotten_total",
    "Checkpoints of sessions ended longer ago than the retention, dropped and tombstoned.",
)
