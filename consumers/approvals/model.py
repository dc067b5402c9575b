"""What the bot knows about one gated tool use: an `Entry`, stored in the state topic."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson

from consumers.base import EventRecord

TOOL_USE_TYPES = frozenset({"agent.tool_use", "agent.mcp_tool_use"})
MAX_PREVIEW_CHARS = 2_000

# Where an entry stands. Terminal ones are never answered (again).
ESCALATED = "escalated"  # waiting for a person (or the timeout)
DECIDED = "decided"  # a person decided; the owner of the session sends it
ANSWERING = "answering"  # a POST was (maybe) sent; confirm from history before another one
ANSWERED = "answered"  # the session has the answer
ANSWERED_ELSEWHERE = "answered_elsewhere"  # someone else answered it first
SESSION_GONE = "session_gone"  # deleted, archived or terminated
REFUSED = "refused"  # the API refused the answer (not pending any more, invalid)
SHADOW = "shadow"  # shadow mode: evaluated and recorded, never answered
WITHDRAWN = "withdrawn"  # escalated, but the session no longer waits for it (e.g. interrupted)
TERMINAL = frozenset({ANSWERED, ANSWERED_ELSEWHERE, SESSION_GONE, REFUSED, SHADOW, WITHDRAWN})


@dataclass(frozen=True, slots=True)
class Entry:
    """One gated tool use and its decision; the value of a state-topic record (key = its id)."""

    tool_use_id: str
    session_id: str
    partition: int
    tool: str
    input_digest: str
    input_preview: str
    status: str
    thread_id: str | None = None
    agent_id: str | None = None
    decision: str | None = None  # allow | deny | ask
    rule: str | None = None
    reason: str | None = None  # the deny message for the agent
    policy_version: str | None = None
    decided_by: str | None = None  # policy | timeout | human:<name> | external
    decided_note: str | None = None  # why a person decided so
    seen_at: float = 0.0
    deadline: float = 0.0
    decided_at: float = 0.0
    attempted: bool = False  # a POST may have reached the API: read history before another

    def with_(self, **changes: Any) -> Entry:
        """A copy with `changes` applied (an unknown field name raises TypeError)."""
        # Not `dataclasses.replace`: its per-field checks cost more than the copy (~5 copies per
        # approval, ~5 % of the bot's CPU at 500/s).
        values = {name: getattr(self, name) for name in _FIELDS}
        values.update(changes)
        return Entry(**values)

    def to_json(self) -> bytes:
        """The state-topic value (orjson writes a dataclass as its fields, in order)."""
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, raw: bytes) -> Entry:
        """Parse a state-topic value; raises ValueError/TypeError on a foreign record."""
        data = orjson.loads(raw)
        return cls(**{key: value for key, value in data.items() if key in _FIELDS})

    def public(self) -> dict[str, Any]:
        """The JSON shape of the HTTP API and the CLI (every field is a plain value)."""
        return {name: getattr(self, name) for name in _FIELDS}


# Looked up once: `dataclasses.asdict` deep-copies every field, on every state write.
_FIELDS = tuple(field.name for field in dataclasses.fields(Entry))


def tool_name(data: dict[str, Any]) -> str:
    """`bash` for built-ins; `mcp__<server>__<tool>` for MCP tools (the policy's names)."""
    name = data.get("name")
    name = name if isinstance(name, str) else "?"
    if data.get("type") == "agent.mcp_tool_use":
        server = data.get("mcp_server_name")
        return f"mcp__{server if isinstance(server, str) else '?'}__{name}"
    return name


def is_gated(record: EventRecord) -> bool:
    """A tool use that waits for an answer (`evaluated_permission: "ask"`)."""
    return record.type in TOOL_USE_TYPES and record.data.get("evaluated_permission") == "ask"


def digest(value: Any) -> str:
    """sha256 of the input's canonical JSON (sorted keys), any shape."""
    canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=repr)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def new_entry(record: EventRecord, status: str) -> Entry:
    """The entry for a gated tool use, before any decision."""
    data = record.data
    preview = orjson.dumps(data.get("input"), default=repr).decode()
    thread = data.get("session_thread_id")
    return Entry(
        tool_use_id=record.event_id,
        session_id=record.session_id,
        partition=record.partition,
        tool=tool_name(data),
        input_digest=digest(data.get("input")),
        input_preview=preview[:MAX_PREVIEW_CHARS],
        status=status,
        thread_id=thread if isinstance(thread, str) and thread else None,
        seen_at=time.time(),
    )
