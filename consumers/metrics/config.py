"""The metrics consumer's settings (env prefix `METRICS_`)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

STATE_TOPIC = "agents.metrics-state"


class MetricsSettings(BaseSettings):
    """Where the aggregates are stored, how often, the price file, the approvals topic."""

    model_config = SettingsConfigDict(env_prefix="METRICS_", frozen=True, extra="ignore")

    state_topic: str = STATE_TOPIC
    state_partitions: int = 16
    # How often each partition's aggregates (and so `/metrics`) are stored; always on revocation
    # and on stop. A crash re-counts at most this much, from the stored offsets.
    flush_interval_ms: int = 500
    price_file: str | None = None  # overrides the shipped prices.toml
    # Also consume the approval bot's audit records (agents_approval_decisions_total).
    approvals: bool = True
    read_timeout_secs: float = 30.0
    # A session without any event for this long (by the records' timestamps) is forgotten: the
    # API announces no archive, and a session idle for ever would stay in the state for ever.
    session_expiry_secs: float = 30 * 86400.0
