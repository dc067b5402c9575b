"""All sessions of a simulator, and the single path by which an event is persisted or streamed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from simulator.clock import Clock, Ids
from simulator.errors import ApiError, not_found
from simulator.faults import Faults
from simulator.ground_truth import GroundTruth
from simulator.pages import decode_cursor, encode_cursor
from simulator.session import SimSession
from simulator.store import StoredEvent, TimeWindow, compact_json, list_body, sse_frame

# Called after each persisted event: (session, event) — webhooks and metrics hook in here.
Listener = Callable[[SimSession, dict[str, Any]], None]
# Called on resource changes that are not events (archive): (session, webhook type).
ResourceListener = Callable[[SimSession, str], None]


@dataclass(slots=True, frozen=True)
class SessionQuery:
    order: str = "desc"
    limit: int = 20
    cursor: str | None = None
    statuses: frozenset[str] = frozenset()
    include_archived: bool = False
    agent_id: str | None = None
    window: TimeWindow = field(default_factory=TimeWindow)


class Registry:
    """Sessions by id and in creation order; the one path of persistence and live fan-out."""

    def __init__(self, ids: Ids, clock: Clock, truth: GroundTruth, faults: Faults) -> None:
        self.ids = ids
        self.clock = clock
        self.truth = truth
        self.faults = faults
        self.sessions: dict[str, SimSession] = {}
        self.ordered: list[SimSession] = []
        self.listeners: list[Listener] = []
        self.resource_listeners: list[ResourceListener] = []
        self.persisted = 0
        self._tie_runs: dict[str, int] = {}  # session id -> events persisted at its last stamp

    def add(self, session: SimSession) -> None:
        self.sessions[session.id] = session
        self.ordered.append(session)

    def get(self, session_id: str) -> SimSession:
        session = self.sessions.get(session_id)
        if session is None or session.deleted:
            raise not_found("session", session_id)
        return session

    def persist(self, session: SimSession, event: dict[str, Any]) -> dict[str, Any]:
        """Stamp, append to history, record as ground truth, stream live (unless faulted)."""
        quirks = self.faults.spec_for(session.id)
        if event.get("type") in quirks.empty_id_types:
            event["id"] = ""
        if event.get("id") is None:  # an explicit "" is kept: the API's empty-id interrupt quirk
            event["id"] = self.ids.new("sevt_")
        if not event.get("processed_at"):
            event["processed_at"] = self._stamp(session, quirks.stamp_ties)
        body = compact_json(event)
        stored = StoredEvent(event["id"], str(event.get("type")), event["processed_at"], body)
        session.log.append(stored)
        self.persisted += 1
        self.truth.record(session.id, stored.id, stored.type, stored.processed_at)
        if not self.faults.drop_live(session.id):
            session.hub.publish(sse_frame(stored.type, body))
        for listener in self.listeners:
            listener(session, event)
        return event

    def _stamp(self, session: SimSession, ties: int) -> str:
        """A fresh stamp, or (`ties` > 1) the session's last one until `ties` events share it."""
        if ties <= 1:
            return self.clock.stamp()
        events = session.log.events
        run = self._tie_runs.get(session.id, 0)
        if events and run < ties:
            self._tie_runs[session.id] = run + 1
            return events[-1].processed_at
        self._tie_runs[session.id] = 1
        return self.clock.stamp()

    def announce(self, session: SimSession, event: dict[str, Any]) -> None:
        """Stream without persisting: the queued echo of a client event (`processed_at: null`)."""
        session.hub.publish(sse_frame(str(event["type"]), orjson.dumps(event)))

    def preview(self, session: SimSession, event_type: str, preview: dict[str, Any]) -> None:
        """An `event_start`/`event_delta` frame, to connections that opted in to `event_type`."""
        if session.hub.connections:
            frame = sse_frame(str(preview["type"]), orjson.dumps(preview))
            session.hub.publish_preview(event_type, frame)

    def page(self, query: SessionQuery) -> bytes:
        """`{"data", "next_page", "prev_page"}` for the sessions list (spec §2.1)."""

        def matches(session: SimSession) -> bool:
            return (
                not session.deleted
                and (query.include_archived or session.archived_at is None)
                and (not query.statuses or session.status in query.statuses)
                and (query.agent_id is None or session.agent.get("id") == query.agent_id)
                and query.window.admits(session.created_at)
            )

        found, before, after = self._walk(query, matches)
        next_page = encode_cursor("sessions", query.order, after) if after is not None else None
        prev_page = (
            encode_cursor("sessionsback", query.order, before) if before is not None else None
        )
        bodies = (orjson.dumps(item.to_json()) for item in found)
        return list_body(bodies, next_page, prev_page=prev_page)

    def _walk(
        self, query: SessionQuery, matches: Callable[[SimSession], bool]
    ) -> tuple[list[SimSession], int | None, int | None]:
        """One page of matches, and the positions just before its first and after its last
        match (None when no match lies that way: the first page has no prev_page)."""
        items = self.ordered
        forward = 1 if query.order == "asc" else -1
        kind, position = "sessions", (0 if forward > 0 else len(items) - 1)
        if query.cursor is not None:
            kind, position = decode_cursor(query.cursor, "sessions", query.order)
        step = -forward if kind == "sessionsback" else forward
        found: list[int] = []
        while 0 <= position < len(items) and len(found) < query.limit:
            if matches(items[position]):
                found.append(position)
            position += step
        if step != forward:
            found.reverse()
        if not found:
            return [], None, None
        last, first = found[-1] + forward, found[0] - forward
        after = range(last, len(items) if forward > 0 else -1, forward)
        before = range(first, -1 if forward > 0 else len(items), -forward)
        has_after = any(matches(items[p]) for p in after)
        has_before = any(matches(items[p]) for p in before)
        return [items[p] for p in found], first if has_before else None, last if has_after else None

    def stats(self) -> dict[str, int]:
        """Counters for benchmarks: sessions, persisted events, open stream connections."""
        return {
            "sessions": len(self.sessions),
            "events_persisted": self.persisted,
            "connections": sum(len(s.hub.connections) for s in self.ordered),
        }

    def require_writable(self, session: SimSession) -> None:
        if session.archived_at is not None:
            raise ApiError(409, "session is archived and read-only", "session_archived")
