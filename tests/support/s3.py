"""A real S3-compatible server for tests: `deploy/s3proxy/s3proxy-local` (s3proxy) on loopback."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
S3PROXY_LOCAL = ROOT / "deploy" / "s3proxy" / "s3proxy-local"
ACCESS_KEY = "local-access-key"
SECRET_KEY = "local-secret-key"  # s3proxy-local's fixed test credential


class LocalS3:
    """One s3proxy process (filesystem backend) owned by the test run; `stop` is safe twice."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.data_dir = data_dir
        self.port = port
        self.endpoint = ""

    def start(self) -> str:
        """Start (or restart on the same data dir and port); the endpoint URL."""
        command = [str(S3PROXY_LOCAL), "start", "--data-dir", str(self.data_dir)]
        if self.port:
            command += ["--port", str(self.port)]
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"s3proxy-local start failed: {result.stderr.strip()}")
        self.endpoint = result.stdout.strip().splitlines()[-1]
        self.port = int(self.endpoint.rsplit(":", 1)[1])
        return self.endpoint

    def stop(self) -> None:
        """Stop the server; its buckets stay on disk for a restart."""
        subprocess.run([str(S3PROXY_LOCAL), "stop", "--data-dir", str(self.data_dir)],
                       capture_output=True, check=False, timeout=60)  # fmt: skip

    def bucket(self) -> str:
        """A fresh bucket (a directory of the filesystem backend); its name."""
        name = f"test-{uuid.uuid4().hex[:12]}"
        (self.data_dir / "buckets" / name).mkdir(parents=True)
        return name

    def env(self) -> dict[str, str]:
        """The AWS environment a process needs to use this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }

    def storage_options(self) -> dict[str, str]:
        """The same as delta-rs storage options (for in-process tables)."""
        return {**self.env(), "conditional_put": "etag"}


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    """An s3proxy started for this test run (stopped at its end)."""
    server = LocalS3(Path(tmp_path_factory.mktemp("s3proxy")))
    server.start()
    try:
        yield server
    finally:
        server.stop()
