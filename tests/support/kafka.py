"""A real local Kafka for tests: `deploy/kafka/kafka-local`, started once per test run."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_LOCAL = ROOT / "deploy" / "kafka" / "kafka-local"


class LocalKafka:
    """One broker process owned by the test run; `stop` is safe twice."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.data_dir = data_dir
        self.port = port
        self.bootstrap = ""

    def start(self) -> str:
        """Start (or restart on the same data dir and port) and return the bootstrap address."""
        command = [str(KAFKA_LOCAL), "start", "--data-dir", str(self.data_dir)]
        if self.port:
            command += ["--port", str(self.port)]
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"kafka-local start failed: {result.stderr.strip()}")
        self.bootstrap = result.stdout.strip().splitlines()[-1]
        self.port = int(self.bootstrap.rsplit(":", 1)[1])
        return self.bootstrap

    def stop(self) -> None:
        """Stop the broker; keeps its data so that `start` brings the same cluster back."""
        subprocess.run(
            [str(KAFKA_LOCAL), "stop", "--data-dir", str(self.data_dir)],
            capture_output=True,
            check=False,
            timeout=120,
        )


def unique_name(prefix: str) -> str:
    """A topic or group name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
