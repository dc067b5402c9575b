"""`deploy/kafka/kafka-local`: bad input gets one clear line and leaves nothing running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.kafka import KAFKA_LOCAL

pytestmark = pytest.mark.kafka


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KAFKA_LOCAL), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


def test_port_in_use_is_refused_in_one_line(tmp_path: Path) -> None:
    """Asking for a port that something else holds fails at once and starts nothing."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        result = _run("start", "--port", str(port), "--data-dir", str(tmp_path))

    assert (1, f"kafka-local: port {port} is in use on 127.0.0.1; choose another with --port") == (
        result.returncode,
        result.stderr.strip(),
    )
    assert 1 == _run("status", "--data-dir", str(tmp_path)).returncode


def test_missing_java_is_named(tmp_path: Path) -> None:
    """Without java on PATH the script says so and exits non-zero."""
    env = {**os.environ, "PATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(KAFKA_LOCAL), "start", "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )

    assert (1, "kafka-local: Java 17+ is required (check: java -version)") == (
        result.returncode,
        result.stderr.strip(),
    )


def test_stale_data_directory_is_refused(tmp_path: Path) -> None:
    """A data directory with files but no KRaft metadata is not overwritten."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "junk").write_text("not kafka")

    result = _run("start", "--data-dir", str(tmp_path))

    assert 1 == result.returncode
    assert "stale data directory" in result.stderr
    assert "not kafka" == (tmp_path / "logs" / "junk").read_text()


def test_second_start_reports_the_running_broker(tmp_path: Path) -> None:
    """Starting twice on one data dir returns the running broker; stop ends it."""
    first = _run("start", "--data-dir", str(tmp_path))
    try:
        second = _run("start", "--data-dir", str(tmp_path))
        status = _run("status", "--data-dir", str(tmp_path))
    finally:
        stopped = _run("stop", "--data-dir", str(tmp_path))

    address = first.stdout.strip().splitlines()[-1]
    assert (0, 0, 0) == (first.returncode, second.returncode, status.returncode)
    assert address == second.stdout.strip().splitlines()[-1] == status.stdout.strip()
    assert 0 == stopped.returncode
    assert 1 == _run("status", "--data-dir", str(tmp_path)).returncode
