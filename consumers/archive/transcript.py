"""`streamer archive transcript SESSION_ID`: one session as a person reads it.

Built from the session's archived events alone, in per-session order: user and agent messages,
each tool use with its input, the approval it needed (and who gave it, as far as the events tell:
the permission policy, or a `user.tool_confirmation` sent by the API's client: the approval bot
or a person through it; `agents.approvals` has the bot's audit trail of which) and its result,
errors, status changes, token and cost totals, timestamps. Rendering is in `transcript_render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.archive.decisions import describe
from consumers.archive.location import ArchiveCommandError

_RESULT_REFS = {
    "agent.tool_result": "tool_use_id",
    "agent.mcp_tool_result": "mcp_tool_use_id",
    "user.custom_tool_result": "custom_tool_use_id",
    "user.tool_result": "tool_use_id",
}
_TOOL_USES = frozenset({"agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use"})
_TOKENS = ("input_tokens", "output_tokens", "cache_read_input_tokens",
           "cache_creation_input_tokens")  # fmt: skip
_SESSION_SQL = """
SELECT session_id, event_id, type, processed_at, thread_id, agent_id, raw
FROM events WHERE session_id = $1 ORDER BY kafka_topic, kafka_partition, kafka_offset
"""
_QUIET = frozenset({"span.model_request_start", "agent.thinking", "session.usage",
                    "session.status_running", "session.thread_status_running"})  # fmt: skip


@dataclass(slots=True)
class Approval:
    """How a tool use was let through or stopped, and by whom."""

    decision: str  # allow | deny | pending
    by: str
    at: str = ""
    message: str = ""
    event_id: str = ""


@dataclass(slots=True)
class Entry:
    """One line of the transcript: a message, a tool call, an error or a status change."""

    kind: str  # user_message | agent_message | tool_call | error | status | event
    at: str
    event_id: str
    event_type: str
    text: str = ""
    thread_id: str | None = None
    tool: str | None = None
    tool_input: Any = None
    result: str | None = None
    result_at: str = ""
    is_error: bool = False
    approval: Approval | None = None


@dataclass(slots=True)
class Totals:
    """Token and cost totals over the session."""

    model_requests: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_TOKENS, 0))
    cost: str = ""  # from the latest `session.usage` (list price), e.g. "0.42 USD"
    tool_calls: int = 0
    approvals: dict[str, int] = field(default_factory=dict)
    errors: int = 0


@dataclass(slots=True)
class Transcript:
    """A session's transcript: its entries in order, and the totals."""

    session_id: str
    agent_id: str | None
    events: int
    first_at: str
    last_at: str
    entries: list[Entry]
    totals: Totals


def load_rows(uri: str, session_id: str) -> list[dict[str, Any]]:
    """The session's archived rows in per-session order."""
    from consumers.archive.query import fetch_rows  # noqa: PLC0415

    return fetch_rows(uri, _SESSION_SQL, [session_id])


def build(
    session_id: str,
    rows: list[dict[str, Any]],
    decisions: dict[str, dict[str, Any]] | None = None,
) -> Transcript:
    """The transcript of one session from its rows (in per-session order); `decisions` (the
    approval bot's audit records by tool use id, `decisions.py`) name who answered."""
    if not rows:
        raise ArchiveCommandError(f"session {session_id} has no events in the archive")
    builder = _Builder(decisions or {})
    for row in rows:
        builder.add(row, _json(row["raw"]))
    stamps = [_stamp(r["processed_at"]) for r in rows if r["processed_at"] is not None]
    agent = next((r["agent_id"] for r in rows if r["agent_id"]), None)
    return Transcript(session_id, agent, len(rows), min(stamps, default=""),
                      max(stamps, default=""), builder.entries, builder.totals)  # fmt: skip


def render_session(
    uri: str, session_id: str, fmt: str, decisions: dict[str, dict[str, Any]] | None = None
) -> str:
    """The transcript of `session_id` in `fmt` (markdown | html | jsonl)."""
    from consumers.archive.transcript_render import render  # noqa: PLC0415

    return render(build(session_id, load_rows(uri, session_id), decisions), fmt)


class _Builder:
    """Turns events into entries, pairing tool uses with their approval and result."""

    def __init__(self, decisions: dict[str, dict[str, Any]]) -> None:
        self._decisions = decisions
        self.entries: list[Entry] = []
        self.totals = Totals()
        self._calls: dict[str, Entry] = {}

    def add(self, row: dict[str, Any], data: dict[str, Any]) -> None:
        kind, at = row["type"], _stamp(row["processed_at"])
        base = {"at": at, "event_id": row["event_id"], "event_type": kind,
                "thread_id": row["thread_id"]}  # fmt: skip
        if kind in ("user.message", "agent.message"):
            role = "user_message" if kind == "user.message" else "agent_message"
            self.entries.append(Entry(role, text=content_text(data.get("content")), **base))
        elif kind in _TOOL_USES:
            self._tool_use(data, base)
        elif kind in _RESULT_REFS:
            self._tool_result(data, kind, at)
        elif kind == "user.tool_confirmation":
            self._confirmation(data, row["event_id"], at)
        elif kind == "session.usage":
            self._usage(data)
        elif kind == "span.model_request_end":
            self._model_request(data, base)
        elif kind in ("session.error", "workflow_run.error"):
            self._error(data, base)
        elif kind not in _QUIET:
            entry_kind, text = _status(kind, data)
            self.entries.append(Entry(entry_kind, text=text, **base))

    def _tool_use(self, data: dict[str, Any], base: dict[str, Any]) -> None:
        name = str(data.get("name") or "")
        if data.get("mcp_server_name"):
            name = f"{data['mcp_server_name']}/{name}"
        entry = Entry("tool_call", tool=name, tool_input=data.get("input"),
                      approval=_policy_approval(data), **base)  # fmt: skip
        self._calls[base["event_id"]] = entry
        self.entries.append(entry)
        self.totals.tool_calls += 1
        if entry.approval and entry.approval.decision != "pending":
            self._count(entry.approval.decision)

    def _tool_result(self, data: dict[str, Any], kind: str, at: str) -> None:
        call = self._calls.get(str(data.get(_RESULT_REFS[kind]) or ""))
        text = content_text(data.get("content"))
        if call is None:  # a result whose use is not archived: show it on its own
            self.entries.append(Entry("tool_result", at, "", kind, text=text,
                                      is_error=bool(data.get("is_error"))))  # fmt: skip
            return
        call.result, call.result_at, call.is_error = text, at, bool(data.get("is_error"))

    def _confirmation(self, data: dict[str, Any], event_id: str, at: str) -> None:
        decision = str(data.get("result") or "")
        use_id = str(data.get("tool_use_id") or "")
        audit = self._decisions.get(use_id)
        by = (describe(audit) if audit else "user.tool_confirmation (the API client: the "
              "approval bot or a person through it)")  # fmt: skip
        approval = Approval(decision, by, at, str(data.get("deny_message") or ""), event_id)
        self._count(decision)
        call = self._calls.get(use_id)
        if call is not None:
            call.approval = approval
        else:
            self.entries.append(Entry("approval", at, event_id, "user.tool_confirmation",
                                      text=f"{decision} {data.get('tool_use_id')}"))  # fmt: skip

    def _usage(self, data: dict[str, Any]) -> None:
        usage = data.get("usage")
        cost = usage.get("list_cost") if isinstance(usage, dict) else None
        if isinstance(cost, dict) and "amount" in cost:
            self.totals.cost = _money(cost.get("amount"), str(cost.get("currency") or ""))

    def _model_request(self, data: dict[str, Any], base: dict[str, Any]) -> None:
        self.totals.model_requests += 1
        usage = data.get("model_usage")
        if isinstance(usage, dict):
            for name in _TOKENS:
                value = usage.get(name)
                self.totals.tokens[name] += value if isinstance(value, int) else 0
        if data.get("is_error"):
            self.totals.errors += 1
            self.entries.append(Entry("error", text="model request failed", **base))

    def _error(self, data: dict[str, Any], base: dict[str, Any]) -> None:
        found = data.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        retry = error.get("retry_status")
        retry_type = retry.get("type") if isinstance(retry, dict) else retry
        text = f"{error.get('type', 'unknown_error')}: {error.get('message', '')}"
        self.totals.errors += 1
        self.entries.append(Entry("error", text=f"{text} (retry_status: {retry_type})", **base))

    def _count(self, decision: str) -> None:
        self.totals.approvals[decision] = self.totals.approvals.get(decision, 0) + 1


def _policy_approval(data: dict[str, Any]) -> Approval | None:
    """What the API's permission policy decided at the tool use (None: custom tools, ungated)."""
    permission = data.get("evaluated_permission")
    if not isinstance(permission, str):
        return None
    found = data.get("evaluation")
    evaluation: dict[str, Any] = found if isinstance(found, dict) else {}
    judged = evaluation.get("evaluated_permission")
    reason = judged.get("reason_code") if isinstance(judged, dict) else None
    details = ", ".join(str(d) for d in (evaluation.get("type"), reason) if d)
    by = f"permission policy ({details})" if details else "permission policy"
    if permission == "ask":
        return Approval("pending", f"awaiting user.tool_confirmation; asked by {by}")
    return Approval(permission, by)


def _status(kind: str, data: dict[str, Any]) -> tuple[str, str]:
    if kind in ("session.status_idle", "session.thread_status_idle"):
        stop = data.get("stop_reason")
        reason = stop.get("type") if isinstance(stop, dict) else stop
        return "status", f"idle ({reason})"
    if kind.startswith(("session.status_", "session.thread_status_")):
        return "status", kind.rsplit("_", 1)[-1]
    if kind == "user.define_outcome":
        return "event", str(data.get("description") or "")
    if kind in ("agent.thread_message_sent", "agent.thread_message_received"):
        return "event", content_text(data.get("content"))
    return "event", ""


def content_text(content: Any) -> str:
    """The readable text of a `content[]` list (placeholders for images, documents, ...)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "document":
            parts.append(f"[document{': ' + str(block['title']) if block.get('title') else ''}]")
        else:
            parts.append(f"[{kind}]")
    return "\n".join(parts)


def _money(amount: Any, currency: str) -> str:
    """`list_cost.amount` is in minor units (cents) as a string."""
    try:
        cents = int(str(amount))
    except ValueError:
        return f"{amount} {currency}".strip()
    return f"{cents / 100:.2f} {currency}".strip()


def _json(raw: str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _stamp(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
