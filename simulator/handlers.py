"""Request handlers: parse and validate the query or body, call the core, render the response."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from simulator import intake, streaming
from simulator.appkey import CORE, json
from simulator.clock import normalize_stamp
from simulator.errors import ApiError, invalid
from simulator.pages import parse_limit, parse_order
from simulator.registry import SessionQuery
from simulator.store import EventQuery, TimeWindow

DELTA_TYPES = frozenset({"agent.message", "agent.thinking"})
STATUSES = frozenset({"rescheduling", "running", "idle", "terminated"})


def array(request: web.Request, name: str) -> list[str]:
    """`x[]=a&x[]=b` (the SDK's brackets form) or `x=a&x=b`."""
    return [*request.query.getall(f"{name}[]", []), *request.query.getall(name, [])]


def window(request: web.Request) -> TimeWindow:
    bounds: dict[str, str] = {}
    for bound in ("gt", "gte", "lt", "lte"):
        value = request.query.get(f"created_at[{bound}]")
        if value is not None:
            try:
                bounds[bound] = normalize_stamp(value)
            except ValueError as exc:
                raise invalid(
                    f"created_at[{bound}] is not an RFC 3339 time", "invalid_time"
                ) from exc
    return TimeWindow(**bounds)


async def body_of(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid("request body is not valid JSON", "invalid_json") from exc


async def create_session(request: web.Request) -> web.Response:
    body = await body_of(request)
    session = request.app[CORE].create_from_api(body)
    return json(session.to_json())


async def list_sessions(request: web.Request) -> web.Response:
    statuses = array(request, "statuses")
    if not set(statuses) <= STATUSES:
        raise invalid("statuses[] values must be session statuses", "invalid_status")
    query = SessionQuery(
        order=parse_order(request.query.get("order"), "desc"),
        limit=parse_limit(request.query.get("limit"), 20, 1000),
        cursor=request.query.get("page"),
        statuses=frozenset(statuses),
        include_archived=request.query.get("include_archived", "false") == "true",
        agent_id=request.query.get("agent_id"),
        window=window(request),
    )
    body = request.app[CORE].registry.page(query)
    return web.Response(body=body, content_type="application/json")


async def retrieve_session(request: web.Request) -> web.Response:
    core = request.app[CORE]
    return json(core.registry.get(request.match_info["session_id"]).to_json())


async def update_session(request: web.Request) -> web.Response:
    core = request.app[CORE]
    session = core.registry.get(request.match_info["session_id"])
    body = await body_of(request)
    core.update(session, body)
    return json(session.to_json())


async def archive_session(request: web.Request) -> web.Response:
    core = request.app[CORE]
    session = core.registry.get(request.match_info["session_id"])
    core.archive(session)
    return json(session.to_json())


async def delete_session(request: web.Request) -> web.Response:
    core = request.app[CORE]
    session = core.registry.get(request.match_info["session_id"])
    await core.delete(session)
    return json({"id": session.id, "type": "session_deleted"})


async def list_events(request: web.Request) -> web.Response:
    session = request.app[CORE].registry.get(request.match_info["session_id"])
    query = EventQuery(
        order=parse_order(request.query.get("order"), "asc"),
        limit=parse_limit(request.query.get("limit"), 1000, 1000),
        cursor=request.query.get("page"),
        types=frozenset(array(request, "types")),
        window=window(request),
    )
    return web.Response(body=session.log.page_body(query), content_type="application/json")


async def send_events(request: web.Request) -> web.Response:
    core = request.app[CORE]
    session = core.registry.get(request.match_info["session_id"])
    events = intake.parse_events(await body_of(request))
    echoes = intake.accept(core.registry, session, events)
    return json({"data": echoes})


async def stream_events(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    session = core.registry.get(request.match_info["session_id"])
    deltas = array(request, "event_deltas")
    if len(deltas) > 100 or not set(deltas) <= DELTA_TYPES:
        raise invalid("event_deltas[] accepts agent.message and agent.thinking", "invalid_deltas")
    config = core.config
    connection = session.hub.open(
        frozenset(deltas), config.max_buffered_frames, config.max_buffered_bytes
    )
    if session.status == "terminated" or session.archived_at is not None:
        connection.close()  # nothing more will happen: an empty stream that ends at once
    faults = core.faults.take_stream(session.id)
    return await streaming.serve(
        request, session.hub, connection, faults, core.config.ping_interval_secs
    )


def add_admin_routes(app: web.Application) -> None:
    """`/_sim/…`: the programmatic API for out-of-process users (no auth; loopback only)."""
    add = app.router.add_route
    add("GET", "/_sim/ground_truth", admin_ground_truth)
    add("GET", "/_sim/stats", admin_stats)
    add("POST", "/_sim/faults", admin_faults)
    add("DELETE", "/_sim/faults", admin_clear_faults)
    add("POST", "/_sim/sessions", admin_create_session)
    add("POST", "/_sim/sessions/{session_id}/inject", admin_inject)


async def admin_ground_truth(request: web.Request) -> web.Response:
    truth = request.app[CORE].truth
    body = truth.jsonl(request.query.get("session_id"))
    return web.Response(body=body, content_type="application/x-ndjson")


async def admin_stats(request: web.Request) -> web.Response:
    return json(request.app[CORE].registry.stats())


async def admin_faults(request: web.Request) -> web.Response:
    """Body: a fault spec; `?session_id=` scopes it to one session."""
    core = request.app[CORE]
    raw = await body_of(request)
    if not isinstance(raw, dict):
        raise invalid("faults must be an object", "invalid_faults")
    try:
        core.faults.set(raw, request.query.get("session_id"))
    except (TypeError, ValueError) as exc:
        raise invalid(str(exc), "invalid_faults") from exc
    return json({"ok": True})


async def admin_clear_faults(request: web.Request) -> web.Response:
    request.app[CORE].faults.clear(request.query.get("session_id"))
    return json({"ok": True})


async def admin_create_session(request: web.Request) -> web.Response:
    core = request.app[CORE]
    raw = await body_of(request) if request.can_read_body else {}
    if not isinstance(raw, dict):
        raise invalid("body must be an object", "invalid_body")
    session_id = core.create_session(
        scenario=raw.get("scenario"), metadata=raw.get("metadata"), agent_id=raw.get("agent_id")
    )
    return json(core.registry.get(session_id).to_json())


async def admin_inject(request: web.Request) -> web.Response:
    core = request.app[CORE]
    raw = await body_of(request)
    if not isinstance(raw, dict):
        raise invalid("event must be an object", "invalid_body")
    try:
        event = core.inject(request.match_info["session_id"], raw)
    except KeyError as exc:
        raise ApiError(404, "session not found", "not_found") from exc
    return json(event)
