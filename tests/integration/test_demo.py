"""`streamer demo` (what `make demo` runs): everything starts, events flow, everything stops."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_demo_shows_events_and_bot_decisions_then_stops_its_processes(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A timed demo run prints flowing events and the bot's decisions, and leaves no child."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    env.pop("ANTHROPIC_API_KEY", None)  # the simulator, not the real API
    result = subprocess.run(
        [sys.executable, "-m", "streamer", "demo", "--seconds", "40", "--sessions", "10",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, check=False, env=env, timeout=300,
    )  # fmt: skip
    totals = [int(n.replace(",", "")) for n in re.findall(r"total: ([\d,]+)", result.stdout)]
    bots_left = subprocess.run(
        ["pgrep", "-f", "streamer consume approvals"], capture_output=True, check=False
    )
    metrics_at = re.search(
        r"demo: metrics consumer at http://127\.0\.0\.1:(\d+)/metrics", result.stdout
    )
    port = metrics_at.group(1) if metrics_at else "none"
    metrics_left = subprocess.run(
        ["pgrep", "-f", f"streamer consume metrics --http-port {port} "],
        capture_output=True,
        check=False,
    )

    assert 0 == result.returncode, result.stderr[-2000:]
    assert "sessions: 10" in result.stdout
    assert totals
    assert totals[-1] > 0
    assert re.search(r"approval bot decisions: .*(answered|escalated) \d+", result.stdout)
    assert result.stdout.rstrip().endswith("demo: stopped everything it started")
    assert 1 == bots_left.returncode  # pgrep: no such process
    assert metrics_at
    assert re.search(r"tokens counted: [1-9]", result.stdout)  # the metrics consumer counts
    assert 1 == metrics_left.returncode  # this demo's metrics consumer is gone
