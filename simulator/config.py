"""The simulator's settings: one frozen model, units in the names."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

BETA = "managed-agents-2026-04-01"
SCENARIOS = ("coding", "mixed", "load", "chaos")


class SimulatorConfig(BaseModel):
    """How a `Simulator` serves: where, which scenario, how fast, and what it checks.

    `speed` compresses the scenario's think times (50.0 = fifty times faster than a real agent);
    `rate_eps` caps the whole simulator's scenario output in events per second (0 = no cap).
    """

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = 0
    scenario: str = "coding"
    sessions: int = Field(default=0, ge=0)
    seed: int = 0
    speed: float = Field(default=1.0, gt=0)
    rate_eps: float = Field(default=0.0, ge=0)
    api_key: SecretStr | None = None
    ping_interval_secs: float = Field(default=15.0, gt=0)
    user_turns: int = Field(default=3, ge=0)
    ground_truth_path: Path | None = None
    faults_path: Path | None = None
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: SecretStr | None = None
    create_rpm: int = Field(default=0, ge=0)
    other_rpm: int = Field(default=0, ge=0)
    max_body_bytes: int = 8 * 1024 * 1024
    max_buffered_frames: int = 50_000
    max_buffered_bytes: int = 1024 * 1024
