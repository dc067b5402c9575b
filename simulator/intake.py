"""Client events sent to a session: validation (all-or-nothing) and hand-over to the engine.

Events that queue (`user.message`, `user.interrupt`, `user.tool_confirmation`) are streamed at
once with `processed_at: null` and persisted by the engine when it processes them (the second
echo, same id). The others are persisted at once, already stamped (spec §3.2). Answers are
marked on the session's pending set here, synchronously, so a second answer to the same tool
use is rejected even before the engine has processed the first.
"""

from __future__ import annotations

from typing import Any

from simulator.errors import ApiError, invalid
from simulator.registry import Registry
from simulator.session import SimSession

QUEUED = frozenset({"user.message", "user.interrupt", "user.tool_confirmation"})
CLIENT_TYPES = QUEUED | {
    "user.custom_tool_result",
    "user.tool_result",
    "user.define_outcome",
    "system.message",
}
# What a session paused at its budget still accepts (spec §5).
SETTLING = frozenset(
    {"user.tool_confirmation", "user.tool_result", "user.custom_tool_result", "user.interrupt"}
)
MESSAGE_BLOCKS = frozenset({"text", "image", "document"})
MAX_EVENTS_PER_REQUEST = 100


def parse_events(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise invalid("body must be an object with an 'events' array", "invalid_body")
    events: list[dict[str, Any]] = body["events"]
    if not 1 <= len(events) <= MAX_EVENTS_PER_REQUEST:
        raise invalid(f"events must hold 1 to {MAX_EVENTS_PER_REQUEST} items", "invalid_body")
    for index, event in enumerate(events):
        if not isinstance(event, dict) or event.get("type") not in CLIENT_TYPES:
            kind = event.get("type") if isinstance(event, dict) else None
            raise invalid(f"events[{index}]: unsupported event type {kind!r}", "invalid_event_type")
    return events


def validate(session: SimSession, events: list[dict[str, Any]]) -> None:
    """Raise for the first invalid event; nothing is applied unless all are valid."""
    if session.status == "terminated":
        raise invalid("session is terminated", "session_terminated")
    if session.paused_at_budget and any(e["type"] not in SETTLING for e in events):
        raise invalid(
            "the session is paused at its budget; raise or remove the budget first",
            "budget_reached",
        )
    answering: set[str] = set()
    for index, event in enumerate(events):
        _validate_one(session, index, event, answering)
        if event["type"] == "system.message":
            _validate_system_message(events, index)


def validate_new(events: list[dict[str, Any]]) -> None:
    """Validate events meant for a session that does not exist yet (no pending tool uses)."""
    for index, event in enumerate(events):
        if event["type"] == "user.message":
            _validate_content(f"events[{index}]", event.get("content"), MESSAGE_BLOCKS)
        elif event["type"] == "user.define_outcome":
            _validate_outcome(f"events[{index}]", event)


def _validate_one(
    session: SimSession, index: int, event: dict[str, Any], answering: set[str]
) -> None:
    kind = event["type"]
    where = f"events[{index}]"
    if kind == "user.message":
        _validate_content(where, event.get("content"), MESSAGE_BLOCKS)
    elif kind == "user.tool_confirmation":
        _validate_confirmation(session, where, event, answering)
    elif kind == "user.custom_tool_result":
        _validate_answer(session, where, event.get("custom_tool_use_id"), "custom", answering)
    elif kind == "user.tool_result":
        raise invalid(
            f"{where}: user.tool_result needs a self_hosted environment", "not_self_hosted"
        )
    elif kind == "user.define_outcome":
        _validate_outcome(where, event)


def _validate_content(where: str, content: Any, allowed: frozenset[str]) -> None:
    if not isinstance(content, list) or not content:
        raise invalid(f"{where}: content must be a non-empty array", "invalid_content")
    for block in content:
        if not isinstance(block, dict) or block.get("type") not in allowed:
            raise invalid(f"{where}: unsupported content block", "invalid_content")
        if block["type"] == "text" and not isinstance(block.get("text"), str):
            raise invalid(f"{where}: text block needs a string 'text'", "invalid_content")


def _validate_confirmation(
    session: SimSession, where: str, event: dict[str, Any], answering: set[str]
) -> None:
    result = event.get("result")
    if result not in ("allow", "deny"):
        raise invalid(f"{where}: result must be 'allow' or 'deny'", "invalid_confirmation")
    if event.get("deny_message") is not None:
        if result != "deny":
            raise invalid(
                f"{where}: deny_message is only allowed with deny", "invalid_confirmation"
            )
        if not isinstance(event["deny_message"], str):
            raise invalid(f"{where}: deny_message must be a string", "invalid_confirmation")
    _validate_answer(session, where, event.get("tool_use_id"), "confirmation", answering)


def _validate_answer(
    session: SimSession, where: str, tool_use_id: Any, kind: str, answering: set[str]
) -> None:
    pending = session.pending.get(tool_use_id) if isinstance(tool_use_id, str) else None
    if pending is None or pending.kind != kind or pending.answered or tool_use_id in answering:
        raise invalid(
            f"{where}: {tool_use_id!r} is not a tool use awaiting this kind of answer",
            "tool_use_not_pending",
        )
    answering.add(tool_use_id)


def _validate_outcome(where: str, event: dict[str, Any]) -> None:
    if not isinstance(event.get("description"), str):
        raise invalid(f"{where}: description is required", "invalid_outcome")
    rubric = event.get("rubric")
    if not isinstance(rubric, dict) or rubric.get("type") not in ("text", "file"):
        raise invalid(f"{where}: rubric must be a text or file rubric", "invalid_outcome")
    iterations = event.get("max_iterations", 3)
    if not isinstance(iterations, int) or not 1 <= iterations <= 20:
        raise invalid(f"{where}: max_iterations must be 1..20", "invalid_outcome")


def _validate_system_message(events: list[dict[str, Any]], index: int) -> None:
    where = f"events[{index}]"
    _validate_content(where, events[index].get("content"), frozenset({"text"}))
    previous = events[index - 1]["type"] if index > 0 else None
    if index != len(events) - 1 or previous not in (
        "user.message",
        "user.tool_result",
        "user.custom_tool_result",
    ):
        raise invalid(
            f"{where}: system.message must be last and follow a user message or tool result",
            "invalid_system_message_position",
        )


def accept(registry: Registry, session: SimSession, events: list[dict[str, Any]]) -> list[Any]:
    """Validate, then queue or persist each event; returns the echoes for the response body."""
    registry.require_writable(session)
    validate(session, events)
    echoes: list[Any] = []
    for raw in events:
        if session.paused_at_budget and raw["type"] == "user.interrupt":
            continue  # accepted, ignored and not persisted while paused at the budget
        event = dict(raw)
        event["id"] = registry.ids.new("sevt_")
        if event["type"] == "user.define_outcome":
            event["outcome_id"] = registry.ids.new("outc_")
        answered = event.get("tool_use_id") or event.get("custom_tool_use_id")
        if answered in session.pending:
            session.pending[answered].answered = True
            thread_id = session.pending[answered].event.get("session_thread_id")
            if thread_id:
                event["session_thread_id"] = thread_id  # server-set: where it was routed
        if event["type"] in QUEUED:
            event["processed_at"] = None
            registry.announce(session, event)
            session.inbox.put(dict(event), front=event["type"] == "user.interrupt")
        else:
            registry.persist(session, event)
            session.inbox.put(event)
        echoes.append(event)
    return echoes


def check_sendable(session: SimSession) -> None:
    if session.deleted:
        raise ApiError(404, "session not found", "not_found")
