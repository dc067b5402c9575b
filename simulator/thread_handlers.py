"""Thread endpoints (spec §2.4): list, retrieve, archive, events, stream.

The primary thread's history and stream are the session's own; a subagent thread has its own
(its tool results stay there; its approval requests are cross-posted to the session).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from simulator import streaming
from simulator.appkey import CORE, json
from simulator.errors import invalid, not_found
from simulator.handlers import DELTA_TYPES, STATUSES, array
from simulator.pages import parse_limit
from simulator.session import SimSession, SimThread
from simulator.sse import Hub
from simulator.store import EventLog, EventQuery, list_body, page_positions


def add_thread_routes(app: web.Application) -> None:
    add = app.router.add_route
    base = "/v1/sessions/{session_id}/threads"
    add("GET", base, list_threads, name="threads_list")
    add("GET", base + "/{thread_id}", retrieve_thread, name="thread_retrieve")
    add("POST", base + "/{thread_id}/archive", archive_thread, name="thread_archive")
    add("GET", base + "/{thread_id}/events", list_thread_events, name="thread_events")
    add("GET", base + "/{thread_id}/stream", stream_thread, name="thread_stream")


def thread_json(session: SimSession, thread_id: str) -> dict[str, Any]:
    if thread_id == session.primary_thread_id:
        primary = SimThread(thread_id, session.id, session.agent["name"], session.created_at)
        primary.status = session.status
        primary.updated_at = session.updated_at
        return primary.to_json(session.agent, None)
    thread = session.threads.get(thread_id)
    if thread is None:
        raise not_found("thread", thread_id)
    return thread.to_json(session.agent, session.primary_thread_id)


def lookup(request: web.Request) -> tuple[SimSession, str]:
    session = request.app[CORE].registry.get(request.match_info["session_id"])
    thread_id = request.match_info.get("thread_id", "")
    if thread_id and thread_id != session.primary_thread_id and thread_id not in session.threads:
        raise not_found("thread", thread_id)
    return session, thread_id


def log_and_hub(session: SimSession, thread_id: str) -> tuple[EventLog, Hub]:
    if thread_id == session.primary_thread_id:
        return session.log, session.hub
    thread = session.threads[thread_id]
    return thread.log, thread.hub


async def list_threads(request: web.Request) -> web.Response:
    session, _ = lookup(request)
    statuses = frozenset(array(request, "statuses"))
    if not statuses <= STATUSES:
        raise invalid("statuses[] values must be thread statuses", "invalid_status")
    threads = [thread_json(session, tid) for tid in [session.primary_thread_id, *session.threads]]
    limit = parse_limit(request.query.get("limit"), 1000, 1000)
    found, next_page = page_positions(
        threads,
        "asc",
        limit=limit,
        cursor=request.query.get("page"),
        kind="threads",
        matches=lambda t: not statuses or t["status"] in statuses,
    )
    body = list_body((orjson.dumps(t) for t in found), next_page)
    return web.Response(body=body, content_type="application/json")


async def retrieve_thread(request: web.Request) -> web.Response:
    session, thread_id = lookup(request)
    return json(thread_json(session, thread_id))


async def archive_thread(request: web.Request) -> web.Response:
    session, thread_id = lookup(request)
    if thread_id == session.primary_thread_id:
        raise invalid(
            "the primary thread cannot be archived; archive the session", "primary_thread"
        )
    thread = session.threads[thread_id]
    if thread.status in ("running", "rescheduling"):
        raise invalid("a thread can be archived only when idle", "thread_running")
    thread.archived_at = thread.archived_at or request.app[CORE].clock.stamp()
    thread.hub.close_all()
    return json(thread_json(session, thread_id))


async def list_thread_events(request: web.Request) -> web.Response:
    session, thread_id = lookup(request)
    log, _ = log_and_hub(session, thread_id)
    query = EventQuery(
        limit=parse_limit(request.query.get("limit"), 1000, 1000), cursor=request.query.get("page")
    )
    return web.Response(body=log.page_body(query), content_type="application/json")


async def stream_thread(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    session, thread_id = lookup(request)
    deltas = array(request, "event_deltas")
    if len(deltas) > 100 or not set(deltas) <= DELTA_TYPES:
        raise invalid("event_deltas[] accepts agent.message and agent.thinking", "invalid_deltas")
    _, hub = log_and_hub(session, thread_id)
    connection = hub.open(
        frozenset(deltas), core.config.max_buffered_frames, core.config.max_buffered_bytes
    )
    if session.status == "terminated" or session.archived_at is not None:
        connection.close()
    faults = core.faults.take_stream(session.id)
    return await streaming.serve(request, hub, connection, faults, core.config.ping_interval_secs)
