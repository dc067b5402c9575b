"""`streamer simulate` from the command line."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

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
