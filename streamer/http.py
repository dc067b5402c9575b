"""The streamer's HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, `POST /follow`, webhooks."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import SecretStr

from streamer import telemetry
from streamer.resource import AsyncResource
from streamer.supervisor import Supervisor
from streamer.webhooks import WebhookError, WebhookVerifier

if TYPE_CHECKING:
    from streamer.fleet.fleet import Fleet

log = structlog.get_logger("streamer.http")

_SESSION_ID = re.compile(r"^sesn_[A-Za-z0-9_-]{1,128}$")
# Webhook data types after which there is nothing (more) to follow.
_NOT_FOLLOWABLE = frozenset({"session.deleted", "session.archived", "session.status_terminated"})


class HttpServer(AsyncResource):
    """An aiohttp server bound to `host:port` (port 0 picks a free one). `stop` is safe twice."""

    def __init__(
        self,
        supervisor: Supervisor | Fleet,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_path: str = "/webhooks",
        verifier: WebhookVerifier | None = None,
        ready: Callable[[], bool] | None = None,
        token: SecretStr | None = None,
    ) -> None:
        """With `token`, admin calls (`POST /follow`) need `Authorization: Bearer <token>`."""
        self._supervisor = supervisor
        self._token = token.get_secret_value().encode() if token is not None else None
        self._host = host
        self._port = port
        self._verifier = verifier
        self._ready = ready or (lambda: supervisor.ready)
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_get("/metrics", self._metrics)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)
        self.app.router.add_post("/follow", self._follow)
        if verifier is not None:
            self.app.router.add_post(webhook_path, self._webhook)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        if self._runner is not None:
            return
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        if self._port == 0:
            self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"content-type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _request: web.Request) -> web.Response:
        ready = self._ready()
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    async def _follow(self, request: web.Request) -> web.Response:
        if not bearer_ok(request, self._token):
            response = _problem(401, "a valid bearer token is required")
            response.headers["WWW-Authenticate"] = 'Bearer realm="streamer"'
            return response
        try:
            body = orjson.loads(await request.read())
            session_id = body["session_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _problem(400, 'body must be {"session_id": "sesn_..."}')
        if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
            return _problem(400, "session_id must look like sesn_...")
        started = self._supervisor.follow(session_id)
        return web.json_response({"session_id": session_id, "started": started}, status=202)

    async def _webhook(self, request: web.Request) -> web.Response:
        assert self._verifier is not None
        body = await request.read()
        try:
            webhook_id = self._verifier.verify(body, request.headers)
        except WebhookError as exc:
            telemetry.webhook("rejected")
            telemetry.error("webhook_rejected", reason=exc.reason)
            return _problem(401, exc.reason)
        if not self._verifier.first_time(webhook_id):
            telemetry.webhook("duplicate")
            return web.Response(status=204)
        telemetry.webhook("accepted")
        self._attach(body, webhook_id)
        return web.Response(status=204)

    def _attach(self, body: bytes, webhook_id: str) -> None:
        try:
            data = orjson.loads(body)["data"]
            kind, session_id = data["type"], data["id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.info("webhook_ignored", webhook_id=webhook_id, reason="not_a_session_event")
            return
        if not (isinstance(kind, str) and kind.startswith("session.")):
            return
        valid = isinstance(session_id, str) and _SESSION_ID.match(session_id)
        if valid and kind not in _NOT_FOLLOWABLE:
            self._supervisor.follow(session_id)


def bearer_ok(request: web.Request, token: bytes | None) -> bool:
    """True when no token is configured, or the request carries it (constant-time compare)."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response({"error": detail}, status=status)
