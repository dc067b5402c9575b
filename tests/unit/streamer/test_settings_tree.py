"""One settings tree per process: defaults → file → env → flags, for every branch alike."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamer.cli import build_parser
from streamer.config import StreamerSettings, load_settings
from streamer.run import _overrides
from streamer.service import Service

FILE = """
http_port = 9000
base_url = "http://file.invalid"

[kafka]
bootstrap_servers = "file-broker:9092"
events_topic = "file-events"

[sink]
mode = "at_least_once"
commit_interval_ms = 7
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting of this process's environment leaks into these tests."""
    for name in list(os.environ):
        if name.startswith(("KAFKA_", "STREAMER_", "ANTHROPIC_")):
            monkeypatch.delenv(name)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "streamer.toml"
    path.write_text(FILE)
    return path


def _view(settings: StreamerSettings) -> tuple[object, ...]:
    return (
        settings.http_port,
        settings.base_url,
        settings.kafka.bootstrap_servers,
        settings.kafka.events_topic,
        settings.sink.mode,
        settings.sink.commit_interval_ms,
    )


def test_defaults() -> None:
    """Nothing configured: every branch has its defaults."""
    expected = (8080, "https://api.anthropic.com", "127.0.0.1:9092", "agents.session-events",
                "exactly_once", 50)  # fmt: skip

    assert expected == _view(load_settings())


def test_the_file_reaches_every_branch(config: Path) -> None:
    """`--config FILE`: top-level keys, `[kafka]` and `[sink]` beat the defaults."""
    expected = (9000, "http://file.invalid", "file-broker:9092", "file-events", "at_least_once", 7)

    assert expected == _view(load_settings(config))


def test_the_environment_beats_the_file(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """STREAMER_*, ANTHROPIC_BASE_URL, KAFKA_* and STREAMER_SINK_* beat the file's values."""
    monkeypatch.setenv("STREAMER_HTTP_PORT", "9001")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://env.invalid")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "env-broker:9092")
    monkeypatch.setenv("STREAMER_SINK_MODE", "exactly_once")
    expected = (9001, "http://env.invalid", "env-broker:9092", "file-events", "exactly_once", 7)

    assert expected == _view(load_settings(config))


def test_flags_beat_the_environment(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Flags (keyword arguments, `kafka=` / `sink=` for the branches) beat the environment."""
    monkeypatch.setenv("STREAMER_HTTP_PORT", "9001")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "env-broker:9092")
    monkeypatch.setenv("STREAMER_SINK_COMMIT_INTERVAL_MS", "8")
    settings = load_settings(
        config, http_port=9002, kafka={"bootstrap_servers": "flag-broker:9092"},
        sink={"commit_interval_ms": 9},
    )  # fmt: skip
    expected = (9002, "http://file.invalid", "flag-broker:9092", "file-events", "at_least_once", 9)

    assert expected == _view(settings)


def test_the_command_line_reaches_the_service(config: Path) -> None:
    """`streamer run --config FILE --base-url URL --at-least-once`: the service's sink has the
    file's Kafka topics, the one delivery-mode knob, and records naming `--base-url`."""
    args = build_parser().parse_args(
        ["run", "--config", str(config), "--base-url", "http://flag.invalid", "--at-least-once"]
    )
    service = Service(load_settings(args.config, **_overrides(args)))
    sink = service.sink
    expected = (
        "file-events",
        "file-broker:9092",
        "at_least_once",
        "http://flag.invalid/v1/sessions",
    )

    assert expected == (
        sink.kafka.events_topic, sink.kafka.bootstrap_servers, sink.settings.mode,
        sink.settings.event_source,
    )  # fmt: skip
