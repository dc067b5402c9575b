"""One simulated session: its resource fields, usage totals, event log, live hub and inbox."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.sse import Hub
from simulator.store import EventLog

# USD per million tokens, list price of the simulated model: input, output, cache read, cache write
PRICES_PER_MTOK = (3.0, 15.0, 0.30, 3.75)


@dataclass(slots=True)
class Usage:
    """Cumulative token usage; every `span.model_request_end` adds to it."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_5m: int = 0
    active_seconds: float = 0.0
    web_search_requests: int = 0
    web_fetch_requests: int = 0

    def add(self, model_usage: dict[str, int]) -> None:
        self.input_tokens += model_usage["input_tokens"]
        self.output_tokens += model_usage["output_tokens"]
        self.cache_read_input_tokens += model_usage["cache_read_input_tokens"]
        self.cache_creation_5m += model_usage["cache_creation_input_tokens"]

    def list_cost_cents(self) -> int:
        counts = (
            self.input_tokens,
            self.output_tokens,
            self.cache_read_input_tokens,
            self.cache_creation_5m,
        )
        dollars = sum(n * p for n, p in zip(counts, PRICES_PER_MTOK, strict=True)) / 1_000_000
        return round(dollars * 100)

    def to_json(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation_5m,
                "ephemeral_1h_input_tokens": 0,
            },
            "active_seconds": round(self.active_seconds, 3),
            "list_cost": {"amount": str(self.list_cost_cents()), "currency": "USD"},
            "server_tool_use": {
                "web_search_requests": self.web_search_requests,
                "web_fetch_requests": self.web_fetch_requests,
            },
        }


class Inbox:
    """Client events waiting for the engine, in order; an interrupt jumps the queue."""

    __slots__ = ("_items", "_wake")

    def __init__(self) -> None:
        self._items: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, event: dict[str, Any], *, front: bool = False) -> None:
        if front:
            self._items.appendleft(event)
        else:
            self._items.append(event)
        self._wake.set()

    def peek(self) -> dict[str, Any] | None:
        return self._items[0] if self._items else None

    async def get(self) -> dict[str, Any]:
        while not self._items:
            self._wake.clear()
            await self._wake.wait()
        return self._items.popleft()

    async def get_matching(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first queued item `wanted` accepts, leaving the others queued in order."""
        while True:
            for index, item in enumerate(self._items):
                if wanted(item):
                    del self._items[index]
                    return item
            self._wake.clear()
            await self._wake.wait()

    def any(self, wanted: Callable[[dict[str, Any]], bool]) -> bool:
        return any(wanted(item) for item in self._items)

    def pop(self) -> dict[str, Any]:
        return self._items.popleft()

    def drain(self) -> list[dict[str, Any]]:
        items = list(self._items)
        self._items.clear()
        return items


@dataclass(slots=True)
class Pending:
    """A tool use the session is blocked on, and the answer once one arrived."""

    kind: str  # "confirmation" (agent.tool_use / agent.mcp_tool_use) or "custom"
    event: dict[str, Any]
    answered: bool = False


@dataclass(eq=False)
class SimThread:
    """A subagent thread: its own history and stream; approvals are cross-posted (spec §7.4)."""

    id: str
    session_id: str
    agent_name: str
    created_at: str
    status: str = "running"
    updated_at: str = ""
    archived_at: str | None = None
    log: EventLog = field(default_factory=EventLog)
    hub: Hub = field(default_factory=Hub)

    def to_json(self, agent: dict[str, Any], parent_thread_id: str | None) -> dict[str, Any]:
        return {
            "type": "session_thread",
            "id": self.id,
            "session_id": self.session_id,
            "parent_thread_id": parent_thread_id,
            "status": self.status,
            "agent": {**agent, "name": self.agent_name},
            "archived_at": self.archived_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
        }


@dataclass(eq=False)
class SimSession:
    """All state of one session; the engine task of the session is its only writer of events."""

    id: str
    seq: int
    scenario: str
    created_at: str
    agent: dict[str, Any]
    environment_id: str
    title: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = "idle"
    updated_at: str = ""
    archived_at: str | None = None
    deleted: bool = False
    budget: dict[str, Any] | None = None
    vault_ids: list[str] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    log: EventLog = field(default_factory=EventLog)
    hub: Hub = field(default_factory=Hub)
    inbox: Inbox = field(default_factory=Inbox)
    pending: dict[str, Pending] = field(default_factory=dict)
    outcome_evaluations: list[dict[str, Any]] = field(default_factory=list)
    primary_thread_id: str = ""
    paused_at_budget: bool = False  # idle `budget_reached` until the budget is raised or removed
    autopilot_done: bool = False  # the simulated user has left (or never drove this session)
    threads: dict[str, SimThread] = field(default_factory=dict)

    def waiting_ids(self) -> list[str]:
        """Ids still blocking the session: not yet answered, in the order they were asked."""
        return [event_id for event_id, item in self.pending.items() if not item.answered]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "session",
            "id": self.id,
            "status": self.status,
            "title": self.title,
            "agent": self.agent,
            "environment_id": self.environment_id,
            "resources": self.resources,
            "metadata": self.metadata,
            "vault_ids": self.vault_ids,
            "budget": self.budget,
            "outcome_evaluations": self.outcome_evaluations,
            "stats": {"active_seconds": round(self.usage.active_seconds, 3)},
            "usage": self.usage.to_json(),
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
            "archived_at": self.archived_at,
        }
