"""The `streamer run` command line."""

from __future__ import annotations

import subprocess
import sys

from streamer.cli import build_parser
from streamer.run import _overrides


def _streamer_run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`streamer run --session sesn_1` in a clean environment plus `env`."""
    return subprocess.run(
        [sys.executable, "-m", "streamer", "run", "--session", "sesn_1"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env},
        timeout=60,
    )


def test_run_without_api_key_against_the_real_api_is_a_usage_error() -> None:
    """No ANTHROPIC_API_KEY and the default base URL: exit 2 with a clear message."""
    result = _streamer_run({})

    assert (2, "streamer run: ANTHROPIC_API_KEY is not set\n") == (result.returncode, result.stdout)


def test_an_invalid_setting_is_one_line_naming_it_without_its_value() -> None:
    """A retention shorter than the backfill, and a secret set alongside: exit 2, one line per
    problem, no traceback, and the secret's value nowhere in the output."""
    result = _streamer_run(
        {"ANTHROPIC_API_KEY": "sk-ant-secret-value", "STREAMER_SINK_FINISHED_RETENTION_SECS": "600"}
    )

    assert (2, 1, False) == (
        result.returncode,
        result.stderr.count("\n"),
        "sk-ant-secret-value" in result.stdout + result.stderr,
    )
    assert "STREAMER_SINK_FINISHED_RETENTION_SECS" in result.stderr


def test_run_flags_become_setting_overrides() -> None:
    """Repeated --session flags and --no-discover parse into the run namespace."""
    args = build_parser().parse_args(
        ["run", "--session", "sesn_a", "--session", "sesn_b", "--no-discover", "--http-port", "0"]
    )

    assert (["sesn_a", "sesn_b"], False, 0) == (args.session_ids, args.discover, args.http_port)


def test_reconcile_secs_flag_is_a_setting_override() -> None:
    """--reconcile-secs reaches the settings overrides of `streamer run`."""
    args = build_parser().parse_args(["run", "--reconcile-secs", "3"])

    assert 3.0 == _overrides(args)["reconcile_secs"]
