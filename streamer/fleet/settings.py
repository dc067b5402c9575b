"""`FleetSettings`: how instances share sessions (`STREAMER_FLEET_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FleetSettings(BaseSettings):
    """The consumer group on the control topic, and the size of that topic.

    With `enabled`, every `streamer run` with the same settings joins `group_id` and follows the
    sessions of the control-topic partitions it owns; `partitions` caps how many instances can
    share the work (an instance owns one or more partitions). The sink's `transactional_id` is
    then a prefix shared by every instance: partition N is written with `<prefix>-N`.
    """

    model_config = SettingsConfigDict(env_prefix="STREAMER_FLEET_", frozen=True, extra="ignore")

    enabled: bool = False
    group_id: str = "agents-streamer"
    partitions: int = Field(default=12, ge=1)
    # A member that misses heartbeats this long is dropped and its partitions move.
    session_timeout_ms: int = Field(default=10000, ge=1000)
    heartbeat_interval_ms: int = Field(default=3000, ge=100)
    # Sessions that ended, kept to answer `follow` quickly; older ones are asked of checkpoints.
    ended_kept: int = Field(default=10000, ge=1)
    # Ids announced recently, not announced again (a redundant announcement is harmless).
    announced_kept: int = Field(default=100000, ge=1)
