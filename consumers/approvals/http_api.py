"""HTTP API for people and programs: list and show escalations, decide them (any replica).

    GET  /approvals[?status=escalated|all]      the entries (default: escalated)
    GET  /approvals/{tool_use_id}               one entry
    POST /approvals/{tool_use_id}/decision      {"decision": "allow"|"deny", "by": NAME,
                                                 "reason": WHY, "message": DENY MESSAGE?}
A decision is written to the state topic; the replica that owns the session sends it. When
authentication is configured (`web.auth`) every request needs it, or gets 401 before anything
else is looked at. `by` is believed only from a machine (the shared token) or an open API; a
reviewer's token or the proxy's identity header names the person instead. A decision carrying a
browser's `Origin` of another site is refused (403): a page elsewhere cannot decide through a
reviewer's proxy session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
from aiohttp import web

from consumers.approvals import metrics
from consumers.approvals.model import ESCALATED
from consumers.approvals.state import StateStore
from consumers.approvals.web.auth import PROXY, REVIEWER, Auth, Identity
from consumers.approvals.web.decide import Decider

R = TypeVar("R", bound=web.StreamResponse)


def approval_routes(state: StateStore, auth: Auth, decider: Decider) -> list[web.RouteDef]:
    """The routes, bound to one state store; each requires `auth` when it is configured."""

    async def list_entries(request: web.Request, _who: Identity) -> web.Response:
        status = request.query.get("status", ESCALATED)
        entries = [e.public() for e in state.entries() if status in ("all", e.status)]
        entries.sort(key=lambda e: e["seen_at"])
        return web.json_response({"data": entries}, dumps=dumps)

    async def show(request: web.Request, _who: Identity) -> web.Response:
        entry = state.get(request.match_info["tool_use_id"])
        if entry is None:
            return error(404, "no such tool use")
        return web.json_response(entry.public(), dumps=dumps)

    async def decide(request: web.Request, who: Identity) -> web.Response:
        refused = _refused(request, auth, state, who)
        if refused is not None:
            return refused
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error(400, "body is not JSON")
        problem = _invalid(body, who)
        if problem:
            return error(400, problem)
        name = who.name if _names_person(who) else str(body["by"]).strip()
        if not auth.may_decide(name):
            metrics.PROBLEMS.labels("http_forbidden").inc()
            return error(403, f"{name[:200]} is not an approver")
        outcome = await decider.decide(
            request.match_info["tool_use_id"], body["decision"], f"human:{name[:200]}",
            str(body.get("reason") or ""), str(body.get("message") or ""),
        )  # fmt: skip
        if outcome.status != 202 or outcome.entry is None:
            return error(outcome.status, outcome.message, outcome.entry)
        return web.json_response(outcome.entry.public(), status=202, dumps=dumps)

    return [
        web.get("/approvals", guarded(auth, list_entries)),
        web.get("/approvals/{tool_use_id}", guarded(auth, show)),
        web.post("/approvals/{tool_use_id}/decision", guarded(auth, decide)),
    ]


def guarded(
    auth: Auth, handler: Callable[[web.Request, Identity], Awaitable[R]], *, cookies: bool = False
) -> Callable[[web.Request], Awaitable[R | web.Response]]:
    """`handler` called with the caller's identity; 401 when there is none."""

    async def checked(request: web.Request) -> R | web.Response:
        who = auth.identify(request, cookies=cookies)
        if who is None:
            metrics.PROBLEMS.labels("http_unauthorized").inc()
            response = error(401, "a valid bearer token is required")
            response.headers["WWW-Authenticate"] = 'Bearer realm="approvals"'
            return response
        return await handler(request, who)

    return checked


def _refused(
    request: web.Request, auth: Auth, state: StateStore, who: Identity
) -> web.Response | None:
    """403 for a browser's cross-site request (bearer-authenticated ones cannot be), 404 for an
    unknown tool use."""
    if not who.bearer and not auth.same_origin(request, required=False):
        metrics.PROBLEMS.labels("http_csrf").inc()
        return error(403, "a decision from another site's page is refused")
    if state.get(request.match_info["tool_use_id"]) is None:
        return error(404, "no such tool use")
    return None


def _invalid(body: object, who: Identity) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if body.get("decision") not in ("allow", "deny"):
        return "decision must be 'allow' or 'deny'"
    by = body.get("by")
    if not _names_person(who) and (not isinstance(by, str) or not by.strip()):
        return "'by' (who decides) is required"
    return None


def _names_person(who: Identity) -> bool:
    """A reviewer's token or the proxy's header names the person; a machine or an open API
    says who in `by`."""
    return who.kind in (REVIEWER, PROXY)


def error(status: int, message: str, entry: object = None) -> web.Response:
    """The API's error body; a refused decision also names who decided first."""
    body: dict[str, object] = {"message": message}
    decided_by = getattr(entry, "decided_by", None)
    if entry is not None:
        body |= {"decided_by": decided_by, "status": getattr(entry, "status", None)}
    return web.json_response({"error": body}, status=status)


def dumps(value: object) -> str:
    """orjson, as text (aiohttp's `dumps`)."""
    return orjson.dumps(value).decode()
