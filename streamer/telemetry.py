"""The streamer's named telemetry events: each one logs and counts in one call.

Metric label values come from fixed vocabularies (`RECONNECT_REASONS`, `ERROR_KINDS`,
`SKIP_REASONS`); anything else is recorded as `other`, so a label can never carry a session id
or an exception's text. Metrics live in prometheus_client's default `REGISTRY` (with the sink's),
which `/metrics` serves.
"""

from __future__ import annotations

import structlog
from prometheus_client import REGISTRY, Counter, Gauge

from streamer.tally import Tally

log = structlog.get_logger("streamer")

RECONNECT_REASONS = frozenset(
    {
        "eof",
        "stall",
        "error_event",
        "connection",
        "rate_limited",
        "overloaded",
        "server_error",
        "client_error",
        "bad_body",
        "other",
    }
)
ERROR_KINDS = frozenset(
    {
        "frame_too_large",
        "invalid_utf8",
        "invalid_json",
        "not_an_event",
        "auth",
        "not_found",
        "client_error",
        "discovery_failed",
        "webhook_rejected",
        "follower_crashed",
        "discovery_crashed",
        "announce_failed",
        "lane_start_failed",
        "lane_failed",
        "partition_fenced",
        "other",
    }
)
SKIP_REASONS = frozenset({"duplicate", "queued_echo", "delta_preview", "other"})

FOLLOWED = Gauge("agents_streamer_followed_sessions", "Sessions with a follower", registry=REGISTRY)
OPEN_STREAMS = Gauge(
    "agents_streamer_open_streams", "SSE streams currently open", registry=REGISTRY
)
FLEET_PARTITIONS = Gauge(
    "agents_streamer_fleet_partitions_owned",
    "Control-topic partitions this instance owns (fleet enabled)",
    registry=REGISTRY,
)
RECONNECTS = Counter(
    "agents_streamer_reconnects_total", "Stream reconnects by reason", ["reason"], registry=REGISTRY
)
# Bumped for every event: plain-integer tallies rather than locked prometheus-client counters.
EVENTS_IN = Tally("agents_streamer_events_received_total", "Events read from streams and history")
BYTES_IN = Tally("agents_streamer_received_bytes_total", "Bytes read from streams")
EVENTS_OUT = Tally("agents_streamer_events_published_total", "Events handed to the sink")
BYTES_OUT = Tally("agents_streamer_published_bytes_total", "Event bytes handed to the sink")
RESTARTING = Gauge(
    "agents_streamer_followers_restarting",
    "Sessions whose follower crashed, waiting to be restarted",
    registry=REGISTRY,
)
RESTARTS = Counter(
    "agents_streamer_follower_restarts_total",
    "Crashed followers started again",
    registry=REGISTRY,
)
SKIPPED = Counter(
    "agents_streamer_events_skipped_total",
    "Events not published, by reason",
    ["reason"],
    registry=REGISTRY,
)
ERRORS = Counter("agents_streamer_errors_total", "Errors by kind", ["kind"], registry=REGISTRY)
WEBHOOKS = Counter(
    "agents_streamer_webhooks_total",
    "Webhook deliveries by outcome",
    ["outcome"],
    registry=REGISTRY,
)


def _label(value: str, vocabulary: frozenset[str]) -> str:
    return value if value in vocabulary else "other"


def stream_opened() -> None:
    OPEN_STREAMS.inc()
    log.debug("stream_opened")


def stream_closed() -> None:
    OPEN_STREAMS.dec()


def reconnecting(reason: str, attempt: int, delay_secs: float) -> None:
    RECONNECTS.labels(_label(reason, RECONNECT_REASONS)).inc()
    log.info("stream_reconnecting", reason=reason, attempt=attempt, delay_ms=int(delay_secs * 1000))


def error(kind: str, **fields: object) -> None:
    """A counted, logged error; the stream or process carries on."""
    ERRORS.labels(_label(kind, ERROR_KINDS)).inc()
    log.warning("error_recorded", kind=kind, **fields)


def skipped(reason: str) -> None:
    SKIPPED.labels(_label(reason, SKIP_REASONS)).inc()


def published(size: int) -> None:
    # Per event, so no histogram here: the time followers wait on a full sink is
    # `agents_streamer_sink_publish_wait_seconds_total`, counted only when they do wait.
    EVENTS_OUT.inc()
    BYTES_OUT.inc(size)


def webhook(outcome: str) -> None:
    WEBHOOKS.labels(outcome if outcome in ("accepted", "duplicate", "rejected") else "other").inc()
