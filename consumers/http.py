"""The consume process's HTTP server: `/metrics`, `/healthz`, and routes consumers add."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

from streamer.resource import AsyncResource

# Families rendered outside prometheus_client's registry (for many series, faster than its
# generic rendering): each is called with `openmetrics` and returns exposition text that follows
# the registry's (OpenMetrics without `# EOF`). The metrics consumer adds one.
RENDERERS: list[Callable[[bool], bytes]] = []
_EOF = b"# EOF\n"


async def _metrics(request: web.Request) -> web.Response:
    # OpenMetrics when the scraper asks for it (Prometheus does), the classic text format else.
    if "application/openmetrics-text" in request.headers.get("Accept", ""):
        body = openmetrics.generate_latest(REGISTRY).removesuffix(_EOF)  # type: ignore[no-untyped-call]
        body += b"".join(render(True) for render in RENDERERS) + _EOF
        content_type = openmetrics.CONTENT_TYPE_LATEST
    else:
        body = generate_latest() + b"".join(render(False) for render in RENDERERS)
        content_type = CONTENT_TYPE_LATEST
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
