"""The approver page's routes under `/ui`: the page, its static files, the login, the live
stream of escalations (server-sent events), the history and the decision endpoint.

Every response carries a strict Content-Security-Policy (scripts and styles only as files from
here, no inline code, no framing) and friends. The page's script builds its DOM with
`textContent` only, so tool inputs (attacker-controlled text) are never parsed as HTML.
"""

from __future__ import annotations

import asyncio
import html
import string
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from consumers.approvals import metrics
from consumers.approvals.http_api import dumps, error, guarded
from consumers.approvals.web.auth import (
    CSRF_COOKIE,
    PROXY,
    REVIEWER,
    SESSION_COOKIE,
    SESSION_SECS,
    Auth,
    Identity,
)
from consumers.approvals.web.decide import Decider
from consumers.approvals.web.history import AuditHistory
from consumers.approvals.web.inbox import Inbox

PING_SECS = 15.0
POLL_SECS = 0.5
STATIC = {"app.js": "text/javascript", "app.css": "text/css", "login.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer would make POSTs carry `Origin: null`
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CANNED_REASONS = (
    "Not needed for this task.",
    "Too risky: explain why you need it first.",
    "Use the staging environment instead.",
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _asset(name: str) -> bytes:
    return resources.files("consumers.approvals.web").joinpath(name).read_bytes()


class Pages:
    """The `/ui` handlers, bound to the page's parts."""

    def __init__(self, auth: Auth, decider: Decider, inbox: Inbox, history: AuditHistory):
        self._auth = auth
        self._decider = decider
        self._inbox = inbox
        self._history = history
        self._templates = {name: string.Template(_asset(f"templates/{name}.html").decode())
                           for name in ("inbox", "login")}  # fmt: skip
        self._static = {name: _asset(f"static/{name}") for name in STATIC}

    def routes(self) -> list[web.RouteDef]:
        """Every route of the page."""
        auth = self._auth
        return [
            web.get("/ui", secured(self.page)),
            web.get("/ui/", secured(self.page)),
            web.post("/ui/login", secured(self.login)),
            web.post("/ui/logout", secured(self.logout)),
            web.get("/ui/static/{name}", secured(self.static)),
            web.get("/ui/api/stream", secured(guarded(auth, self.stream, cookies=True))),
            web.get("/ui/api/history", secured(guarded(auth, self.history, cookies=True))),
            web.post("/ui/api/decide/{id}", secured(guarded(auth, self.decide, cookies=True))),
        ]

    async def page(self, request: web.Request) -> web.Response:
        """The inbox, or the login form when the caller is not authenticated."""
        who = self._auth.identify(request, cookies=True)
        if who is None:
            return self._login_page(request, "", status=401)
        csrf = request.cookies.get(CSRF_COOKIE) or self._auth.new_csrf()
        body = self._templates["inbox"].substitute(
            csrf=html.escape(csrf), who=html.escape(_shown(who)),
            reasons=html.escape(orjson.dumps(CANNED_REASONS).decode()),
            logout="" if who.kind != REVIEWER else "shown",
        )  # fmt: skip
        response = web.Response(text=body, content_type="text/html")
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="Strict", path="/ui",
                            secure=self._auth.secure(request))  # fmt: skip
        return response

    async def login(self, request: web.Request) -> web.Response:
        """A reviewer's token, from the form, becomes a signed session cookie."""
        if not self._auth.same_origin(request, required=True):
            metrics.PROBLEMS.labels("http_csrf").inc()
            return self._login_page(request, "This form must be sent from this site.", 403)
        form = await request.post()
        cookie = self._auth.login(str(form.get("token") or "").strip())
        if cookie is None:
            metrics.PROBLEMS.labels("http_unauthorized").inc()
            return self._login_page(request, "That token is not a reviewer's token.", 401)
        response = web.Response(status=303, headers={"Location": "/ui"})
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="Strict", path="/",
                            max_age=SESSION_SECS, secure=self._auth.secure(request))  # fmt: skip
        return response

    async def logout(self, request: web.Request) -> web.Response:
        """Forget the session cookie."""
        if not self._auth.same_origin(request, required=True):
            return error(403, "a logout from another site's page is refused")
        response = web.Response(status=303, headers={"Location": "/ui"})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    async def static(self, request: web.Request) -> web.Response:
        """The page's script and styles (fixed files: no path is read from the request)."""
        name = request.match_info["name"]
        if name not in STATIC:
            return error(404, "no such file")
        return web.Response(body=self._static[name], content_type=STATIC[name])

    async def history(self, request: web.Request, _who: Identity) -> web.Response:
        """Recent audit records, newest first, `?session=` (prefix) and `?decision=`."""
        records = self._history.select(
            session=request.query.get("session", "").strip(),
            decision=request.query.get("decision", "").strip(),
        )
        return web.json_response({"data": records}, dumps=dumps)

    async def decide(self, request: web.Request, who: Identity) -> web.Response:
        """A decision from the page: CSRF-checked, made by the authenticated person."""
        auth = self._auth
        if not (auth.same_origin(request, required=True) and auth.csrf_matches(request)):
            metrics.PROBLEMS.labels("http_csrf").inc()
            return error(403, "missing or wrong CSRF token, or another site's page")
        if who.kind not in (REVIEWER, PROXY, "anonymous") or not self._auth.may_decide(who.name):
            metrics.PROBLEMS.labels("http_forbidden").inc()
            return error(403, f"{_shown(who)} may not decide")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error(400, "body is not JSON")
        if not isinstance(body, dict) or body.get("decision") not in ("allow", "deny"):
            return error(400, "decision must be 'allow' or 'deny'")
        message = str(body.get("message") or "")
        outcome = await self._decider.decide(
            request.match_info["id"], body["decision"], f"human:{who.name}",
            message, message,
        )  # fmt: skip
        if outcome.status != 202 or outcome.entry is None:
            return error(outcome.status, outcome.message, outcome.entry)
        return web.json_response(outcome.entry.public(), status=202, dumps=dumps)

    async def stream(self, request: web.Request, who: Identity) -> web.StreamResponse:
        """Server-sent events: a `snapshot`, then `upsert` / `remove` / `audit` as they happen."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "X-Accel-Buffering": "no"})  # fmt: skip
        response.headers.update(SECURITY_HEADERS)
        await response.prepare(request)
        with self._inbox.subscribe() as queue:
            items = await asyncio.gather(*map(self._inbox.item, self._inbox.pending()))
            await _event(response, "snapshot", {"now": time.time(), "me": _shown(who),
                                                "items": items})  # fmt: skip
            last_write = time.monotonic()
            while not _closing(request):
                try:
                    message = await asyncio.wait_for(queue.get(), POLL_SECS)
                except TimeoutError:
                    if time.monotonic() - last_write > PING_SECS:
                        await response.write(b": ping\n\n")
                        last_write = time.monotonic()
                    continue
                if message is None:
                    break  # too far behind: the browser reconnects and gets a snapshot
                name, value = message
                if name == "upsert":
                    value = await self._inbox.item(value)
                await _event(response, name, value | {"now": time.time()})
                last_write = time.monotonic()
        return response

    def _login_page(self, request: web.Request, problem: str, status: int) -> web.Response:
        if not self._auth.has_logins:
            problem = problem or "Sign in through your organisation's proxy to use this page."
        body = self._templates["login"].substitute(
            problem=html.escape(problem), form="shown" if self._auth.has_logins else "",
        )  # fmt: skip
        return web.Response(text=body, content_type="text/html", status=status)


def secured(handler: Handler) -> Handler:
    """`handler` with the page's security headers on its response (errors included)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        response = await handler(request)
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
        return response

    return wrapped


async def _event(response: web.StreamResponse, name: str, value: Any) -> None:
    await response.write(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(value) + b"\n\n")


def _closing(request: web.Request) -> bool:
    """The browser went away, or the server is shutting down (it waits for open handlers)."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return True
    return bool(getattr(request.protocol, "_force_close", False))


def _shown(who: Identity) -> str:
    return who.name or "machine"
