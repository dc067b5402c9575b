"""The consume process's HTTP server: `/metrics`, `/healthz`, and routes consumers add."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

from streamer.resource import AsyncResource


async def _metrics(request: web.Request) -> web.Response:
    # OpenMetrics when the scraper asks for it (Prometheus does), the classic text format else.
    if "application/openmetrics-text" in request.headers.get("Accept", ""):
        body = openmetrics.generate_latest(REGISTRY)  # type: ignore[no-untyped-call]
        content_type = openmetrics.CONTENT_TYPE_LATEST
    else:
        body, content_type = generate_latest(), CONTENT_TYPE_LATEST
    return web.Response(body=body, headers={"Content-Type": content_type})


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


class HttpServer(AsyncResource):
    """An aiohttp server on loopback (by default); `port` is known after `start`."""

    def __init__(self, host: str, port: int, routes: Iterable[web.RouteDef] = ()) -> None:
        self.host = host
        self.port = port
        self._app = web.Application()
        self._app.add_routes([web.get("/metrics", _metrics), web.get("/healthz", _healthz)])
        self._app.add_routes(list(routes))
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind and serve; safe twice."""
        if self._runner is not None:
            return
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses  # the bound (host, port), also when port was 0
        if addresses:
            self.port = int(addresses[0][1])

    async def stop(self) -> None:
        """Close connections and unbind; safe twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
