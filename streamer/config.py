"""`StreamerSettings`: everything `streamer run` is configured with, in one frozen tree.

The tree is the process's settings with two branches: `kafka` (`KafkaSettings`:
`KAFKA_BOOTSTRAP_SERVERS`, `KAFKA_*`) and `sink` (`SinkSettings`: `STREAMER_SINK_*`). It is loaded
once, by `load_settings`, and passed down. Sources, weakest first, for every branch alike: the
defaults, an optional TOML file (`--config FILE`: top-level keys, `[kafka]`, `[sink]`), the
environment (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`, `STREAMER_*`, `KAFKA_*`), then
command-line flags (keyword arguments; `kafka=` / `sink=` dicts for the branches).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamer.discovery import DiscoverySettings
from streamer.fleet.settings import FleetSettings
from streamer.follower import FollowerSettings
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings

S = TypeVar("S", bound=BaseSettings)


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
    # First start only (no watermark in Kafka yet): also follow sessions created this long ago,
    # ended ones included. A duration: `1h`, `30m`, `90s`, or seconds; `0` = from now on.
    discovery_backfill: float = Field(default=3600.0, ge=0)
    # How long a found session without committed events may hold the watermark back.
    discovery_hold_secs: float = Field(default=3600.0, gt=0)
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
    http_token: SecretStr | None = None  # bearer token for admin calls (`POST /follow`)
    webhook_path: str = "/webhooks"
    webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "STREAMER_WEBHOOK_SECRET", "ANTHROPIC_WEBHOOK_SIGNING_KEY", "webhook_secret"
        ),
    )
    webhook_tolerance_secs: int = Field(default=300, gt=0, le=300)  # the standard's at most
    # How long a start may retry what waiting can fix (Kafka unreachable); 0: try once.
    start_timeout_secs: float = Field(default=60.0, ge=0)
    shutdown_timeout_secs: float = 15.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)  # delivery mode: `sink.mode`
    fleet: FleetSettings = Field(default_factory=FleetSettings)  # sharing sessions: `fleet.*`

    @field_validator("discovery_backfill", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _backfill_within_retention(self) -> StreamerSettings:
        # A backfilled session that ended is followed with no checkpoint; the follower's
        # retention check would refuse one created before the retention window.
        if self.discovery_backfill > self.sink.finished_retention_secs:
            raise ValueError(
                "STREAMER_DISCOVERY_BACKFILL must not exceed STREAMER_SINK_FINISHED_RETENTION_SECS"
                f" ({self.discovery_backfill:g} s > {self.sink.finished_retention_secs:g} s)"
            )
        return self

    @property
    def discovery_enabled(self) -> bool:
        return self.discover if self.discover is not None else not self.session_ids

    def discovery_settings(self) -> DiscoverySettings:
        return DiscoverySettings(
            interval_secs=self.discovery_interval_secs,
            backfill_secs=self.discovery_backfill,
            hold_secs=self.discovery_hold_secs,
        )

    def follower_settings(self) -> FollowerSettings:
        return FollowerSettings(
            read_timeout_secs=self.stream_read_timeout_secs,
            reconnect_initial_secs=self.reconnect_initial_secs,
            reconnect_max_secs=self.reconnect_max_secs,
            history_page_limit=self.history_page_limit,
            reconcile_secs=self.reconcile_secs,
            max_frame_bytes=self.max_frame_bytes,
            finished_retention_secs=self.sink.finished_retention_secs,
        )

    def sink_settings(self) -> SinkSettings:
        """The sink's branch, its records' `ce_source` naming the API this process follows."""
        return self.sink.model_copy(update={"api_base_url": self.base_url})


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in `90`, `90s`, `30m`, `1h` or `2d`; raises ValueError otherwise."""
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:])
    number = value[:-1] if unit is not None else value
    try:
        return float(number) * (unit or 1.0)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (e.g. 1h, 30m, 90s, 0)") from None


def load_settings(config_file: Path | None = None, **flags: Any) -> StreamerSettings:
    """The whole tree from defaults, `config_file`, the environment and `flags`, in that order."""
    file = tomllib.loads(config_file.read_text()) if config_file is not None else {}
    kafka = _layered(KafkaSettings, file.pop("kafka", {}), flags.pop("kafka", {}))
    sink = _layered(SinkSettings, file.pop("sink", {}), flags.pop("sink", {}))
    fleet = _layered(FleetSettings, file.pop("fleet", {}), flags.pop("fleet", {}))
    return _layered(StreamerSettings, file, {**flags, "kafka": kafka, "sink": sink, "fleet": fleet})


def _layered(cls: type[S], file: dict[str, Any], flags: dict[str, Any]) -> S:
    """`cls` from the file's values, beaten by the environment's, beaten by `flags`."""
    from_env = cls()  # only what the environment sets counts as set
    env = {name: getattr(from_env, name) for name in from_env.model_fields_set}
    return cls(**{**file, **env, **flags})


def invalid_settings(error: ValidationError) -> list[str]:
    """One line per invalid setting: its environment variable and why, without the value (it
    may be a secret)."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "settings"
        variable = env_name(error.title, where)
        named = f"{variable} ({where})" if variable else where
        lines.append(f"invalid setting {named}: {problem['msg']}")
    return lines


def env_name(title: str, field: str) -> str | None:
    """The environment variable of `field` in the settings class named `title` (None: unknown)."""
    for cls in _subclasses(BaseSettings):
        info = cls.model_fields.get(field) if cls.__name__ == title else None
        if info is None:
            continue
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            alias = next((c for c in alias.choices if isinstance(c, str)), None)
        if isinstance(alias, str):
            return alias.upper()
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()
    return None


def _subclasses(cls: type[BaseSettings]) -> list[type[BaseSettings]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found
