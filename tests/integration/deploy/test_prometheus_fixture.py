"""The real-Prometheus fixture: Debian's prometheus scrapes a target and answers queries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest

from tests.support.prometheus import LocalPrometheus, PromClient, PromQueryError


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, Counter]]:
    """An HTTP server on loopback serving one counter: its `host:port`, and the counter."""
    registry = CollectorRegistry()
    counter = Counter("fixture_ticks", "Ticks", ["kind"], registry=registry)

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"127.0.0.1:{runner.addresses[0][1]}", counter
    finally:
        await runner.cleanup()


async def test_prometheus_scrapes_the_target_and_answers_instant_queries(
    local_prometheus: Any, target: tuple[str, Counter]
) -> None:
    """A counter the target exposes is queryable within seconds, under its job's name."""
    address, counter = target
    counter.labels("a").inc(3)
    server = await local_prometheus({"fixture": [address]})

    result = await server.client.query_until_data('fixture_ticks_total{job="fixture"}')

    assert [({"__name__": "fixture_ticks_total", "instance": address, "job": "fixture",
              "kind": "a"}, "3")] == [(r["metric"], r["value"][1]) for r in result]  # fmt: skip
    assert ["up"] == [t["health"] for t in await server.client.targets()]


async def test_a_bad_expression_is_an_error_not_an_empty_result(local_prometheus: Any) -> None:
    """The client raises on Prometheus' parse errors, so a typo cannot pass as "no data"."""
    server = await local_prometheus({})

    with pytest.raises(PromQueryError, match="parse error"):
        await server.client.query("sum(rate(x[5m])")


async def test_stop_ends_the_server_and_is_safe_twice(tmp_path: Path) -> None:
    """After `stop` the port no longer answers; a second `stop` does nothing."""
    server = LocalPrometheus(tmp_path, {})
    await server.start()
    client = PromClient(server.url)
    assert [{"metric": {}, "value": [pytest.approx(0, abs=1e12), "1"]}] == await client.query("1")

    server.stop()
    server.stop()

    with pytest.raises(aiohttp.ClientConnectionError):
        await client.query("1")
