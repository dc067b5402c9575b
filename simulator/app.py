"""The HTTP surface: `/v1/sessions…` routes as the API has them, plus auth, beta and faults."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson
import structlog
from aiohttp import web

from simulator import handlers, thread_handlers
from simulator.appkey import CORE, REQUEST_ID
from simulator.config import BETA
from simulator.errors import ApiError

if TYPE_CHECKING:
    from simulator.core import Core

log = structlog.get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(core: Core) -> web.Application:
    app = web.Application(middlewares=[api_middleware], client_max_size=core.config.max_body_bytes)
    app[CORE] = core
    app.on_response_prepare.append(_stamp_request_id)
    add = app.router.add_route
    add("POST", "/v1/sessions", handlers.create_session, name="create")
    add("GET", "/v1/sessions", handlers.list_sessions, name="list")
    add("GET", "/v1/sessions/{session_id}", handlers.retrieve_session, name="retrieve")
    add("POST", "/v1/sessions/{session_id}", handlers.update_session, name="update")
    add("DELETE", "/v1/sessions/{session_id}", handlers.delete_session, name="delete")
    add("POST", "/v1/sessions/{session_id}/archive", handlers.archive_session, name="archive")
    add("GET", "/v1/sessions/{session_id}/events", handlers.list_events, name="events_list")
    add("POST", "/v1/sessions/{session_id}/events", handlers.send_events, name="send")
    add("GET", "/v1/sessions/{session_id}/events/stream", handlers.stream_events, name="stream")
    thread_handlers.add_thread_routes(app)
    handlers.add_admin_routes(app)
    return app


async def _stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["request-id"] = request.get(REQUEST_ID, "")


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    core = request.app[CORE]
    request[REQUEST_ID] = core.ids.new("req_")
    try:
        if request.path.startswith("/v1/"):
            _check_auth(request, core)
            _check_beta(request)
            bad_body = _maybe_fault(request, core)
            if bad_body is not None:
                return bad_body
            _check_rate(request, core)
        return await handler(request)
    except ApiError as error:
        headers = error.headers if isinstance(error, InjectedHttpError) else None
        return error_response(request, error, headers)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return error_response(request, ApiError(error.status, error.reason, "http_error"))
    except Exception:  # a simulator bug must still answer with the API's 500 body
        log.exception("request_failed", route=request.match_info.route.name)
        return error_response(request, ApiError(500, "Internal server error", "internal"))


def error_response(
    request: web.Request, error: ApiError, headers: dict[str, str] | None = None
) -> web.Response:
    body = orjson.dumps(error.body(request.get(REQUEST_ID, "")))
    return web.Response(
        body=body, status=error.status, content_type="application/json", headers=headers
    )


def _check_auth(request: web.Request, core: Core) -> None:
    key = request.headers.get("x-api-key")
    bearer = request.headers.get("authorization", "")
    if key is None and bearer.lower().startswith("bearer "):
        key = bearer[7:].strip()
    if not key:
        raise ApiError(
            401, "missing API key: send x-api-key or Authorization: Bearer", "no_api_key"
        )
    expected = core.config.api_key
    if expected is not None and not hmac.compare_digest(
        key.encode(), expected.get_secret_value().encode()
    ):
        raise ApiError(401, "invalid x-api-key", "invalid_api_key")


def _check_beta(request: web.Request) -> None:
    betas = {b.strip() for b in request.headers.get("anthropic-beta", "").split(",")}
    if BETA not in betas:
        raise ApiError(404, "Not found (this route needs the anthropic-beta header)", "not_found")


def _maybe_fault(request: web.Request, core: Core) -> web.Response | None:
    """Raise the injected HTTP error, or return the injected bad 200 answer, if one is due."""
    route = request.match_info.route.name or "all"
    spec = core.faults.take_http(request.match_info.get("session_id"), route)
    if spec is None:
        return None
    if spec.bad_body == "not_json":
        return web.Response(
            text="<html><body>upstream busy</body></html>", content_type="text/html"
        )
    if spec.bad_body == "bad_items":
        return web.json_response({"data": [42], "next_page": None, "prev_page": None})
    if spec.http_status is None:
        return None
    headers: dict[str, str] = {}
    if spec.retry_after_secs is not None:
        headers["retry-after"] = f"{spec.retry_after_secs:g}"
    if spec.should_retry is not None:
        headers["x-should-retry"] = "true" if spec.should_retry else "false"
    message = _FAULT_MESSAGES.get(spec.http_status, "Error")
    raise InjectedHttpError(ApiError(spec.http_status, message), headers)


def _check_rate(request: web.Request, core: Core) -> None:
    wait = core.limiter.check(request.match_info.route.name or "other")
    if wait is not None:
        error = ApiError(429, "Rate limit exceeded for this organization", "rate_limited")
        raise InjectedHttpError(error, {"retry-after": f"{wait:g}"})


_FAULT_MESSAGES = {
    429: "Rate limited",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
    529: "Overloaded",
}


class InjectedHttpError(ApiError):
    """An injected HTTP error that carries its own headers (retry-after, x-should-retry)."""

    def __init__(self, error: ApiError, headers: dict[str, str]) -> None:
        super().__init__(error.status, error.message, error.error_code)
        self.headers = headers
