"""A real Prometheus for tests: Debian's `prometheus` on loopback, and a client for its HTTP API.

`LocalPrometheus` writes a config that scrapes the given targets every second (and loads the given
rule files), starts `/usr/bin/prometheus` on a free loopback port with a temporary storage
directory, waits until it is ready, and stops it (`stop` is safe twice). The `local_prometheus`
fixture hands out started servers and stops them after the test. `PromClient` runs instant
queries and reads targets and rules over HTTP.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

SYSTEM_DEPS = "install it with `make system-deps` (Debian's prometheus package)"


def system_tool(name: str) -> str:
    """The path of a Debian tool the tests need; fails the test loudly when it is missing."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else "")
    if not path:
        pytest.fail(f"`{name}` is not installed: {SYSTEM_DEPS}", pytrace=False)
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PromQueryError(Exception):
    """Prometheus answered a query with an error (a bad expression, a timeout)."""


class PromClient:
    """Instant queries, targets and rules of one Prometheus, over its HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(f"{self.url}{path}", params=params) as response,
        ):
            body = await response.json(content_type=None)
        if body.get("status") != "success":
            raise PromQueryError(f"{path} {dict(params or {})}: {body.get('error', body)}")
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or `[scalar]`) that `expr` evaluates to now."""
        data = await self._get("/api/v1/query", {"query": expr})
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    async def query_until_data(self, expr: str, limit_secs: float = 30.0) -> list[dict[str, Any]]:
        """Poll `expr` until it returns a sample (or `limit_secs` pass); the last result."""
        deadline = time.monotonic() + limit_secs
        while True:
            result = await self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            await asyncio.sleep(0.2)

    async def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets, each with its `health` (`up`, `down`, `unknown`)."""
        data = await self._get("/api/v1/targets", {"state": "active"})
        return list(data["activeTargets"])

    async def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule, each with its `health` and `lastError`."""
        data = await self._get("/api/v1/rules")
        return [rule for group in data["groups"] for rule in group["rules"]]


class LocalPrometheus:
    """One `prometheus` process scraping `targets` (job name -> `host:port`s) every second."""

    def __init__(
        self,
        workdir: Path,
        targets: Mapping[str, Sequence[str]],
        rule_files: Sequence[Path] = (),
        scrape_interval: str = "1s",
    ) -> None:
        self.workdir = workdir
        self.targets = targets
        self.rule_files = rule_files
        self.scrape_interval = scrape_interval
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client(self) -> PromClient:
        return PromClient(self.url)

    def config(self) -> dict[str, Any]:
        """The Prometheus configuration this server runs with."""
        interval = {"scrape_interval": self.scrape_interval}
        return {
            "global": interval | {"evaluation_interval": self.scrape_interval},
            "rule_files": [str(path.resolve()) for path in self.rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": list(addresses)}]}
                for job, addresses in self.targets.items()
            ],
        }

    async def start(self, ready_secs: float = 30.0) -> None:
        """Start the server and wait until `/-/ready` answers 200."""
        binary = system_tool("prometheus")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config()))
        self.port = free_port()
        command = [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{self.port}",
                   f"--storage.tsdb.path={self.workdir / 'data'}", "--log.level=warn",
                   "--storage.tsdb.retention.time=1h"]  # fmt: skip
        self._spawn(command)
        await self._wait_ready(ready_secs)

    def _spawn(self, command: list[str]) -> None:
        with (self.workdir / "prometheus.log").open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=log)

    async def _wait_ready(self, limit_secs: float) -> None:
        deadline = time.monotonic() + limit_secs
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    break
                try:
                    async with http.get(f"{self.url}/-/ready") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        log = (self.workdir / "prometheus.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"prometheus did not become ready in {limit_secs} s:\n{log}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 20 s); safe twice."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def local_prometheus(tmp_path: Path) -> AsyncIterator[Any]:
    """`await start(targets, rule_files)`: a started `LocalPrometheus`, stopped after the test."""
    servers: list[LocalPrometheus] = []

    async def start(
        targets: Mapping[str, Sequence[str]], rule_files: Sequence[Path] = ()
    ) -> LocalPrometheus:
        server = LocalPrometheus(tmp_path / f"prometheus-{len(servers)}", targets, rule_files)
        servers.append(server)
        await server.start()
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
