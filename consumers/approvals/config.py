"""The approval bot's settings (env prefix `APPROVALS_`; the API's conventional names)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamer.backoff import Backoff

STATE_TOPIC = "agents.approvals.state"


class ApprovalSettings(BaseSettings):
    """Where the API is, how long people get, where notifications and state go."""

    model_config = SettingsConfigDict(env_prefix="APPROVALS_", frozen=True, extra="ignore")

    policy_path: str | None = None
    shadow: bool = False
    api_base_url: str = Field(
        default="https://api.anthropic.com",
        validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "api_base_url"),
    )
    api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY", "api_key")
    )
    api_timeout_secs: float = 30.0
    escalation_timeout_secs: float = 3600.0
    timeout_message: str = "No one approved this tool use in time; it was denied by default."
    webhook_url: SecretStr | None = None  # a Slack webhook URL is a credential
    # The bearer token the HTTP API requires (`Authorization: Bearer ...`); unset, the API is
    # open to whoever can reach it (it binds to loopback by default).
    http_token: SecretStr | None = None
    state_topic: str = STATE_TOPIC
    answer_attempts: int = 3
    retry_initial_ms: int = 200
    retry_max_ms: int = 5_000

    resolver_interval_ms: int = 500
    # Closed entries are forgotten (tombstoned in the state topic) this long after their decision,
    # which bounds memory and the topic. A tool use replayed after that is still not answered
    # twice: the API refuses it and the history check confirms it was answered.
    retention_secs: float = 7 * 24 * 3600.0
    # The approver web page and who may decide (consumers/approvals/web, docs/APPROVALS.md).
    # Per-reviewer tokens, `name:token,name:token`: a bearer token or the page's login names them.
    reviewer_tokens: SecretStr | None = None
    # A header an authenticating proxy sets to the person's name (e.g. X-Forwarded-User), believed
    # only from `trusted_proxies` (comma-separated addresses or networks).
    identity_header: str | None = None
    trusted_proxies: str = "127.0.0.1/32,::1/128"
    approvers: str | None = None  # comma-separated allowlist of who may decide; unset: anyone
    allowed_origins: str | None = None  # extra origins for the decision Origin check
    history_size: int = 1_000  # recent audit records the page's history keeps

    def backoff(self) -> Backoff:
        """The schedule of retried answers."""
        return Backoff(self.retry_initial_ms / 1000, self.retry_max_ms / 1000)
