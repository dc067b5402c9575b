"""StreamerSettings sources and precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.config import load_settings


def test_conventional_env_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL configure the API side."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
    settings = load_settings()

    assert ("sk-test", "http://127.0.0.1:1") == (
        settings.api_key.get_secret_value(),
        settings.base_url,
    )


def test_api_key_is_not_in_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is a SecretStr: printing the settings does not reveal it."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-very-secret")

    assert "sk-very-secret" not in repr(load_settings())


def test_env_beats_file_and_flags_beat_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Precedence: flags, then STREAMER_* env, then the TOML file, then defaults."""
    config = tmp_path / "streamer.toml"
    config.write_text("http_port = 9000\ndiscovery_interval_secs = 5\nhistory_page_limit = 7\n")
    monkeypatch.setenv("STREAMER_DISCOVERY_INTERVAL_SECS", "6")
    settings = load_settings(config, history_page_limit=8)

    assert (9000, 6.0, 8) == (
        settings.http_port,
        settings.discovery_interval_secs,
        settings.history_page_limit,
    )


def test_discovery_is_the_default_without_session_ids() -> None:
    """No ids: discover; explicit ids: do not, unless asked to."""
    assert (True, False, True) == (
        load_settings().discovery_enabled,
        load_settings(session_ids=("sesn_1",)).discovery_enabled,
        load_settings(session_ids=("sesn_1",), discover=True).discovery_enabled,
    )


def test_reconcile_secs_reaches_the_follower_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """STREAMER_RECONCILE_SECS is a setting, and the followers are built with it; off by default."""
    off = load_settings().follower_settings().reconcile_secs
    monkeypatch.setenv("STREAMER_RECONCILE_SECS", "2.5")

    assert (None, 2.5) == (off, load_settings().follower_settings().reconcile_secs)


@pytest.mark.parametrize(
    ("value", "secs"), [("1h", 3600.0), ("30m", 1800.0), ("90", 90.0), ("0", 0.0)]
)
def test_discovery_backfill_takes_a_duration_from_the_env(
    monkeypatch: pytest.MonkeyPatch, value: str, secs: float
) -> None:
    """STREAMER_DISCOVERY_BACKFILL accepts `1h`, `30m`, plain seconds and `0` (live only)."""
    monkeypatch.setenv("STREAMER_DISCOVERY_BACKFILL", value)

    assert secs == load_settings().discovery_settings().backfill_secs


def test_a_backfill_that_is_not_a_duration_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in STREAMER_DISCOVERY_BACKFILL is an error naming the setting, not a default."""
    monkeypatch.setenv("STREAMER_DISCOVERY_BACKFILL", "an hour")

    with pytest.raises(ValueError, match="discovery_backfill"):
        load_settings()


def test_the_admin_token_is_read_from_the_env_and_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """STREAMER_HTTP_TOKEN reaches the settings as a secret (not in the repr)."""
    monkeypatch.setenv("STREAMER_HTTP_TOKEN", "admin-secret-token")
    settings = load_settings()

    assert settings.http_token is not None
    assert "admin-secret-token" == settings.http_token.get_secret_value()
    assert "admin-secret-token" not in repr(settings)
