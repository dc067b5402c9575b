"""The live inbox: escalations as the page shows them, and their changes fanned out to every
open page (server-sent events).

Each page has a bounded queue; one that falls too far behind is dropped (its browser reconnects
and gets a fresh snapshot), so a slow reader never holds the bot up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from typing import Any

import structlog

from consumers.approvals.api import BotApi
from consumers.approvals.errors import ApiError
from consumers.approvals.model import ESCALATED, Entry
from consumers.approvals.state import StateStore
from consumers.approvals.web.decide import already_by
from consumers.approvals.web.history import Record

log = structlog.get_logger(__name__)

QUEUE_SIZE = 1_000
FACTS_CACHE = 10_000
FACTS_TIMEOUT_SECS = 3.0
RETRY_FACTS_SECS = 30.0

Message = tuple[str, Any]  # (SSE event name, what it carries: an Entry, or a JSON-able value)


class SessionFacts:
    """Title, agent and metadata of sessions, read from the API once each (cached)."""

    def __init__(self, api: BotApi) -> None:
        self._api = api
        self._known: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._failed: dict[str, float] = {}  # session -> when to ask the API again

    async def get(self, session_id: str) -> dict[str, Any]:
        """`{"title", "agent", "metadata"}`; empty values when the API cannot say (asked again
        after `RETRY_FACTS_SECS`)."""
        if session_id in self._known:
            return self._known[session_id]
        if self._failed.get(session_id, 0.0) > time.monotonic():
            return _facts({})  # unreadable a moment ago: do not hold every page up again
        try:
            async with asyncio.timeout(FACTS_TIMEOUT_SECS):
                body = await self._api.session(session_id)
        except (ApiError, TimeoutError) as exc:
            log.info("approvals_page_session_unreadable", session_id=session_id,
                     error=type(exc).__name__)  # fmt: skip
            if len(self._failed) > FACTS_CACHE:
                self._failed.clear()
            self._failed[session_id] = time.monotonic() + RETRY_FACTS_SECS
            return _facts({})
        self._failed.pop(session_id, None)
        facts = _facts(body or {})
        self._known[session_id] = facts
        if len(self._known) > FACTS_CACHE:
            self._known.popitem(last=False)
        return facts


class Inbox:
    """Watches the state table; each subscriber gets `upsert` / `remove` / `audit` messages."""

    def __init__(self, state: StateStore, facts: SessionFacts) -> None:
        self._state = state
        self._facts = facts
        # tool use ids escalated, as last told
        self._open = {e.tool_use_id for e in state.entries() if e.status == ESCALATED}
        self._subscribers: set[asyncio.Queue[Message | None]] = set()
        state.listeners.append(self._on_change)

    def pending(self) -> list[Entry]:
        """Every escalation, oldest first."""
        return sorted((e for e in self._state.entries() if e.status == ESCALATED),
                      key=lambda e: e.seen_at)  # fmt: skip

    async def item(self, entry: Entry) -> dict[str, Any]:
        """One escalation as the page shows it."""
        public = entry.public()
        public["session"] = await self._facts.get(entry.session_id)
        return public

    @contextlib.contextmanager
    def subscribe(self) -> Any:
        """A queue of messages for one page; None in it means "too far behind: reconnect"."""
        queue: asyncio.Queue[Message | None] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def on_audit(self, record: Record) -> None:
        """A new audit record (from `AuditHistory`)."""
        self._send(("audit", record))

    def _on_change(self, entry: Entry) -> None:
        if entry.status == ESCALATED:
            self._open.add(entry.tool_use_id)
            self._send(("upsert", entry))
        elif entry.tool_use_id in self._open:
            self._open.discard(entry.tool_use_id)
            self._send(("remove", {
                "tool_use_id": entry.tool_use_id, "status": entry.status,
                "decision": entry.decision, "decided_by": already_by(entry),
                "at": time.time(),
            }))  # fmt: skip

    def _send(self, message: Message) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self._subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()  # room for the "reconnect" marker
                queue.put_nowait(None)


def _facts(body: dict[str, Any]) -> dict[str, Any]:
    agent = body.get("agent")
    agent_id = agent.get("id") if isinstance(agent, dict) else agent
    metadata = body.get("metadata")
    title = body.get("title")
    return {
        "title": title if isinstance(title, str) else None,
        "agent": agent_id if isinstance(agent_id, str) else None,
        "metadata": {str(k): str(v) for k, v in metadata.items()}
        if isinstance(metadata, dict)
        else {},
    }
