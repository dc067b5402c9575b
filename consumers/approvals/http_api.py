"""HTTP API for people: list and show escalations, decide them (any replica accepts).

    GET  /approvals[?status=escalated|all]      the entries (default: escalated)
    GET  /approvals/{tool_use_id}               one entry
    POST /approvals/{tool_use_id}/decision      {"decision": "allow"|"deny", "by": NAME,
                                                 "reason": WHY, "message": DENY MESSAGE?}
A decision is written to the state topic; the replica that owns the session sends it. With a
token configured (`APPROVALS_HTTP_TOKEN`) every request needs `Authorization: Bearer TOKEN`, or
gets 401 before anything else is looked at.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from consumers.approvals import metrics
from consumers.approvals.model import DECIDED, ESCALATED
from consumers.approvals.state import StateStore

MAX_TEXT = 2_000


Handler = Callable[[web.Request], Awaitable[web.Response]]


def approval_routes(state: StateStore, token: str | None = None) -> list[web.RouteDef]:
    """The routes, bound to one state store; each requires `token` as a bearer token if set."""

    async def list_entries(request: web.Request) -> web.Response:
        status = request.query.get("status", ESCALATED)
        entries = [e.public() for e in state.entries() if status in ("all", e.status)]
        entries.sort(key=lambda e: e["seen_at"])
        return web.json_response({"data": entries}, dumps=_dumps)

    async def show(request: web.Request) -> web.Response:
        entry = state.get(request.match_info["tool_use_id"])
        if entry is None:
            return _error(404, "no such tool use")
        return web.json_response(entry.public(), dumps=_dumps)

    async def decide(request: web.Request) -> web.Response:
        entry = state.get(request.match_info["tool_use_id"])
        if entry is None:
            return _error(404, "no such tool use")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "body is not JSON")
        problem = _invalid(body)
        if problem:
            return _error(400, problem)
        if entry.status != ESCALATED:
            return _error(409, f"not waiting for a decision (status {entry.status})")
        decision = body["decision"]
        note = str(body.get("reason") or "")[:MAX_TEXT] or None
        message = str(body.get("message") or note or "Denied by a reviewer.")[:MAX_TEXT]
        stored = await state.put(entry.with_(
            status=DECIDED, decision=decision, decided_by=f"human:{str(body['by'])[:200]}",
            decided_note=note, reason=message if decision == "deny" else None,
            decided_at=time.time(), rule=None,
        ))  # fmt: skip
        metrics.DECISIONS.labels(decision, "human").inc()
        return web.json_response(stored.public(), status=202, dumps=_dumps)

    def guarded(handler: Handler) -> Handler:
        if token is None:
            return handler

        async def checked(request: web.Request) -> web.Response:
            if not _bearer_matches(request, token):
                metrics.PROBLEMS.labels("http_unauthorized").inc()
                response = _error(401, "a valid bearer token is required")
                response.headers["WWW-Authenticate"] = 'Bearer realm="approvals"'
                return response
            return await handler(request)

        return checked

    return [
        web.get("/approvals", guarded(list_entries)),
        web.get("/approvals/{tool_use_id}", guarded(show)),
        web.post("/approvals/{tool_use_id}/decision", guarded(decide)),
    ]


def _bearer_matches(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())  # constant time


def _invalid(body: object) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if body.get("decision") not in ("allow", "deny"):
        return "decision must be 'allow' or 'deny'"
    if not isinstance(body.get("by"), str) or not body["by"].strip():
        return "'by' (who decides) is required"
    return None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message}}, status=status)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()
