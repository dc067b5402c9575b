"""How the sink behaves: delivery mode, batching, bounds, topic layout.

Environment names are `STREAMER_SINK_*` (e.g. `STREAMER_SINK_COMMIT_INTERVAL_MS=50`). In a
streamer process this is the `sink` branch of `StreamerSettings`, and the API base URL that names
the records' `ce_source` is the process's own `base_url` (`StreamerSettings.sink_settings`);
standing alone it reads the ecosystem's `ANTHROPIC_BASE_URL`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamer.backoff import Backoff

MIB = 1024 * 1024


class SinkSettings(BaseSettings):
    """One streamer instance's sink; `transactional_id` must be stable across its restarts."""

    model_config = SettingsConfigDict(env_prefix="STREAMER_SINK_", frozen=True, extra="ignore")

    mode: Literal["exactly_once", "at_least_once"] = "exactly_once"
    # Stable per instance: a restarted instance with the same id fences its crashed predecessor
    # and aborts the transaction it left open. Two live instances must never share it.
    transactional_id: str = "agents-streamer-0"
    api_base_url: str = Field(
        default="https://api.anthropic.com",
        validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "api_base_url"),
    )

    # One transaction per interval (or sooner when a batch is full); the approval path's
    # latency includes this wait.
    commit_interval_ms: int = Field(default=50, ge=1)
    max_batch_events: int = Field(default=5000, ge=1)
    # Events someone waits on (an approval bot, a person): their arrival starts a transaction at
    # once instead of at the end of the interval. Transactions stay sequential, so under load this
    # only shortens the wait; it cannot make more than one transaction per round trip.
    flush_now_types: frozenset[str] = frozenset(
        {"agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use", "session.status_idle"}
    )
    # The bounded buffer in front of the flusher: `publish` waits when either bound is reached.
    buffer_max_events: int = Field(default=20000, ge=1)
    buffer_max_bytes: int = Field(default=64 * MIB, ge=1)

    # How long a finished session's checkpoint is remembered (memory and the compacted topic)
    # before it is forgotten: what one process holds is bounded by the sessions that ended
    # within this window, not by every session it ever saw. A session announced again after it
    # was forgotten is not streamed a second time (docs/STREAMER.md, "Long uptimes").
    finished_retention_secs: float = Field(default=86400.0, gt=0)

    events_partitions: int = Field(default=12, ge=1)
    checkpoints_partitions: int = Field(default=12, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # None: read `max.message.bytes` of the events topic from the cluster at start.
    max_message_bytes: int | None = Field(default=None, ge=1024)
    dead_letter_max_message_bytes: int = Field(default=8 * MIB, ge=1024)

    deltas_enabled: bool = False
    deltas_partitions: int = Field(default=12, ge=1)

    linger_ms: int = Field(default=5, ge=0)
    producer_batch_bytes: int = Field(default=512 * 1024, ge=1024)
    request_timeout_ms: int = Field(default=10000, ge=1000)
    retry_backoff_initial_ms: int = Field(default=200, ge=1)
    retry_backoff_max_ms: int = Field(default=5000, ge=1)
    stop_timeout_ms: int = Field(default=30000, ge=1)

    def backoff(self) -> Backoff:
        """The schedule of a failed batch's retries."""
        return Backoff(self.retry_backoff_initial_ms / 1000, self.retry_backoff_max_ms / 1000)

    @property
    def event_source(self) -> str:
        """The CloudEvents `source` of every event record: the API's sessions collection."""
        return self.api_base_url.rstrip("/") + "/v1/sessions"
