"""`StreamerSettings`: everything `streamer run` is configured with, in one frozen model.

Sources, strongest first: command-line flags (passed as keyword arguments), environment
(`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`, `STREAMER_*`), an optional TOML config file
(`--config` / `STREAMER_CONFIG_FILE`), then the defaults below. Kafka settings are
`streamer.kafka.config.KafkaSettings` (`KAFKA_BOOTSTRAP_SERVERS`, `KAFKA_*`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from streamer.follower import FollowerSettings


class StreamerSettings(BaseSettings):
    """Configuration of one streamer process (API side, followers, HTTP endpoints)."""

    model_config = SettingsConfigDict(env_prefix="STREAMER_", frozen=True, extra="ignore")

    api_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("ANTHROPIC_API_KEY", "api_key")
    )
    base_url: str = Field(
        default="https://api.anthropic.com",
        validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "base_url"),
    )
    session_ids: tuple[str, ...] = ()
    discover: bool | None = None  # default: discover when no session ids are given
    discovery_interval_secs: float = 30.0
    stream_read_timeout_secs: float = 60.0
    reconnect_initial_secs: float = 0.5
    reconnect_max_secs: float = 10.0
    history_page_limit: int = 1000
    # Page history this often even on a healthy stream (None: never; each pass is a request).
    reconcile_secs: float | None = Field(default=None, gt=0)
    max_frame_bytes: int = 16 * 1024 * 1024
    request_timeout_secs: float = 60.0
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    webhook_path: str = "/webhooks"
    webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "STREAMER_WEBHOOK_SECRET", "ANTHROPIC_WEBHOOK_SIGNING_KEY", "webhook_secret"
        ),
    )
    webhook_tolerance_secs: int = 300
    exactly_once: bool = True
    shutdown_timeout_secs: float = 15.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @property
    def discovery_enabled(self) -> bool:
        return self.discover if self.discover is not None else not self.session_ids

    def follower_settings(self) -> FollowerSettings:
        return FollowerSettings(
            read_timeout_secs=self.stream_read_timeout_secs,
            reconnect_initial_secs=self.reconnect_initial_secs,
            reconnect_max_secs=self.reconnect_max_secs,
            history_page_limit=self.history_page_limit,
            reconcile_secs=self.reconcile_secs,
            max_frame_bytes=self.max_frame_bytes,
        )


def load_settings(config_file: Path | None = None, **overrides: Any) -> StreamerSettings:
    """Settings from flags (`overrides`), the environment and an optional TOML file."""
    if config_file is None:
        return StreamerSettings(**overrides)
    path = config_file

    class FromFile(StreamerSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=path)
            return (init_settings, env_settings, toml)

    return FromFile(**overrides)
