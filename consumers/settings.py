"""How the runner behaves; one frozen settings model (env prefix `CONSUMER_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamer.backoff import Backoff


class RunnerSettings(BaseSettings):
    """Batching, retries and the HTTP port of one `streamer consume` process."""

    model_config = SettingsConfigDict(env_prefix="CONSUMER_", frozen=True, extra="ignore")

    group_prefix: str = "agents-streamer."
    max_batch_records: int = 500
    poll_timeout_ms: int = 200
    # How long the broker may hold a fetch when it has no new committed data. Small: approvals
    # wait on this (aiokafka's default is 500 ms).
    fetch_max_wait_ms: int = 20
    max_attempts: int = 5
    retry_initial_ms: int = 100
    retry_max_ms: int = 5_000
    http_host: str = "127.0.0.1"
    http_port: int | None = None
    auto_offset_reset: str = "earliest"

    # How long a start may retry what waiting can fix (Kafka unreachable); 0: try once.
    start_timeout_secs: float = Field(default=60.0, ge=0)

    def backoff(self) -> Backoff:
        """The schedule of a failing record's retries."""
        return Backoff(self.retry_initial_ms / 1000, self.retry_max_ms / 1000)
