"""`streamer simulate` from the command line."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import orjson


def test_simulate_serves_sessions_until_terminated() -> None:
    """`streamer simulate --port 0 --sessions 3` prints its URL and serves the 3 sessions."""
    command = [sys.executable, "-m", "streamer", "simulate", "--port", "0", "--sessions", "3"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().decode().strip()
            request = urllib.request.Request(
                f"{base_url}/v1/sessions",
                headers={"x-api-key": "k", "anthropic-beta": "managed-agents-2026-04-01"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                body = orjson.loads(response.read())
        finally:
            process.terminate()
            process.wait(timeout=30)

    assert (3, 0) == (len(body["data"]), process.returncode)


def test_faults_file_is_applied(tmp_path: Path) -> None:
    """`--faults FILE` sets the global spec: the first request gets the configured 503."""
    faults = tmp_path / "faults.json"
    faults.write_bytes(orjson.dumps({"global": {"http_status": 503, "http_count": 1}}))
    command = [sys.executable, "-m", "streamer", "simulate", "--port", "0", "--faults", str(faults)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().decode().strip()
            statuses = [status_of(f"{base_url}/v1/sessions") for _ in range(2)]
        finally:
            process.terminate()
            process.wait(timeout=30)

    assert [503, 200] == statuses


def status_of(url: str) -> int:
    request = urllib.request.Request(
        url, headers={"x-api-key": "k", "anthropic-beta": "managed-agents-2026-04-01"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
