"""A few words on what an event is about, by type: the text, the tool call, the decision, the
tokens, the error.

`summarize(type, data)` never raises: an unknown type, or a known type with a surprising shape,
is summarised generically (its top-level fields, briefly). `tone` tells the formatter how to
colour it: "bad" (an error, a denial), "good" (an allow), "ask" (a tool use waiting for a
person), or "" (neutral).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import orjson

# The fields every event has; the generic summary leaves them out.
ENVELOPE = frozenset({"id", "type", "processed_at"})
# Which input field says what a built-in tool is doing, in order of preference.
TARGET_FIELDS = ("command", "file_path", "path", "pattern", "url", "query", "description")
SEARCH_TOOLS = frozenset({"glob", "grep"})  # their summary: the pattern, and where
GENERIC_VALUE_CHARS = 60


class Summary(NamedTuple):
    """The summary text and how it should stand out."""

    text: str
    tone: str = ""


# Tool-use id -> tool name, so that results and confirmations can name their tool.
ToolNames = Mapping[str, str]
Summarizer = Callable[[dict[str, Any], ToolNames], Summary]


def summarize(event_type: str, data: dict[str, Any], tools: ToolNames | None = None) -> Summary:
    """The summary of one event; the generic one for unknown types and surprising shapes."""
    handler = _BY_TYPE.get(event_type)
    if handler is not None:
        try:
            summary = handler(data, tools or {})
        except (AttributeError, KeyError, TypeError, ValueError):
            pass  # a field of an unexpected shape: say what is there instead
        else:
            if summary.text:
                return summary
    return Summary(generic(data))


def generic(data: Mapping[str, Any]) -> str:
    """`key=value` for each top-level field but the envelope, each value kept short."""
    return " ".join(f"{key}={_brief(value)}" for key, value in data.items() if key not in ENVELOPE)


def first_line(text: str) -> str:
    """The first non-empty line of `text`, with "…" when more follows."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines:
        return ""
    return lines[0] + (" …" if len(lines) > 1 else "")


def content_text(content: Any) -> str:
    """The first line of the first text block of a `content[]`; `[image]`-style tags otherwise."""
    if not isinstance(content, list):
        return ""
    for block in content:
        if isinstance(block, dict) and block.get("type") == "text":
            text = block.get("text")
            if isinstance(text, str) and text.strip():
                return first_line(text)
    kinds = [str(b.get("type")) for b in content if isinstance(b, dict) and b.get("type")]
    return " ".join(f"[{kind}]" for kind in kinds)


def tool_target(name: str, tool_input: Any) -> str:
    """What a tool call acts on: the command, the path, the pattern, the URL (else its input)."""
    if not isinstance(tool_input, dict):
        return _brief(tool_input) if tool_input is not None else ""
    pattern, where = tool_input.get("pattern"), tool_input.get("path")
    if name in SEARCH_TOOLS and isinstance(pattern, str) and pattern:
        return first_line(pattern) + (f" in {where}" if isinstance(where, str) and where else "")
    for field in TARGET_FIELDS:
        value = tool_input.get(field)
        if isinstance(value, str) and value:
            return first_line(value)
    return _compact(tool_input)


def _message(data: dict[str, Any], _: ToolNames) -> Summary:
    return Summary(content_text(data.get("content")))


def _thread_sent(data: dict[str, Any], _: ToolNames) -> Summary:
    to = data.get("to_agent_name") or data.get("to_session_thread_id") or "?"
    return Summary(f"→ {to}: {content_text(data.get('content'))}")


def _thread_received(data: dict[str, Any], _: ToolNames) -> Summary:
    sender = data.get("from_agent_name") or data.get("from_session_thread_id") or "?"
    return Summary(f"← {sender}: {content_text(data.get('content'))}")


def _tool_use(data: dict[str, Any], _: ToolNames) -> Summary:
    name = str(data["name"])
    if data.get("mcp_server_name"):
        name = f"{data['mcp_server_name']}/{name}"
    text = f"{name}: {tool_target(str(data['name']), data.get('input'))}"
    permission = data.get("evaluated_permission")
    if permission in ("ask", "deny"):
        return Summary(f"{text} [{permission}]", "ask" if permission == "ask" else "bad")
    return Summary(text)


def _tool_result(id_field: str) -> Summarizer:
    def summary(data: dict[str, Any], tools: ToolNames) -> Summary:
        tool_use_id = str(data.get(id_field, ""))
        name = tools.get(tool_use_id) or _short(tool_use_id)
        failed = bool(data.get("is_error"))
        text = content_text(data.get("content"))
        head = f"{name} → {'error' if failed else 'ok'}"
        return Summary(f"{head}: {text}" if text else head, "bad" if failed else "")

    return summary


def _confirmation(data: dict[str, Any], tools: ToolNames) -> Summary:
    tool_use_id = str(data["tool_use_id"])
    result = str(data["result"])
    text = f"{result} {tools.get(tool_use_id) or _short(tool_use_id)}"
    message = data.get("deny_message")
    if isinstance(message, str) and message:
        text += f": {first_line(message)}"
    return Summary(text, {"allow": "good", "deny": "bad"}.get(result, ""))


def _outcome(data: dict[str, Any], _: ToolNames) -> Summary:
    return Summary(first_line(str(data.get("description", ""))))


def _idle(data: dict[str, Any], _: ToolNames) -> Summary:
    reason = data.get("stop_reason")
    if isinstance(reason, dict):  # `{type, event_ids?}` (§6.2)
        kind = str(reason.get("type", "?"))
        waiting = reason.get("event_ids")
        if kind == "requires_action" and isinstance(waiting, list):
            return Summary(f"requires_action ({len(waiting)} waiting)", "ask")
    else:
        kind = str(reason or "")
    details = data.get("stop_details")
    if isinstance(details, dict) and details.get("category"):
        kind += f": {details['category']}"
    bad = kind.startswith(("retries_exhausted", "refusal", "budget_reached"))
    prefix = f"{data['agent_name']}: " if data.get("agent_name") else ""
    return Summary(prefix + kind, "bad" if bad else "")


def _error(data: dict[str, Any], _: ToolNames) -> Summary:
    error = data["error"]
    text = f"{error.get('type', 'error')}: {first_line(str(error.get('message', '')))}"
    retry = error.get("retry_status")
    if isinstance(retry, dict) and retry.get("type"):
        text += f" ({retry['type']})"
    return Summary(text, "bad")


def _updated(data: dict[str, Any], _: ToolNames) -> Summary:
    changed = [key for key in data if key not in ENVELOPE]
    if "title" in changed:
        rest = [key for key in changed if key != "title"]
        title = f"title {_brief(data['title'])}"
        return Summary(f"{title}, {', '.join(rest)}" if rest else title)
    return Summary(f"changed {', '.join(changed)}" if changed else "")


def tokens(usage: Mapping[str, Any]) -> str:
    """`in N out N cache-read N cache-write N` from a usage object (absent counts left out)."""
    cache_write = usage.get("cache_creation_input_tokens")
    creation = usage.get("cache_creation")
    if cache_write is None and isinstance(creation, dict):
        cache_write = sum(v for v in creation.values() if isinstance(v, int)) or None
    counts = {"in": usage.get("input_tokens"), "out": usage.get("output_tokens"),
              "cache-read": usage.get("cache_read_input_tokens"),
              "cache-write": cache_write}  # fmt: skip
    return " ".join(f"{label} {n}" for label, n in counts.items() if isinstance(n, int))


def _usage(data: dict[str, Any], _: ToolNames) -> Summary:
    usage = data["usage"]
    text = tokens(usage)
    cost = usage.get("list_cost")
    amount = cost.get("amount") if isinstance(cost, dict) else None
    if isinstance(amount, str) and amount.isdigit():  # minor units: cents of USD
        text += f" ${int(amount) / 100:.2f}"
    return Summary(text.strip())


def _model_request_end(data: dict[str, Any], _: ToolNames) -> Summary:
    text = tokens(data["model_usage"])
    if data.get("is_error"):
        return Summary(f"{text} error".strip(), "bad")
    return Summary(text)


def _evaluation_end(data: dict[str, Any], _: ToolNames) -> Summary:
    result = str(data["result"])
    explanation = first_line(str(data.get("explanation") or ""))
    tone = "good" if result == "satisfied" else "bad" if result == "failed" else ""
    return Summary(f"{result}: {explanation}" if explanation else result, tone)


def _iteration(data: dict[str, Any], _: ToolNames) -> Summary:
    return Summary(f"iteration {data['iteration']}")


def _thread(data: dict[str, Any], _: ToolNames) -> Summary:
    return Summary(str(data.get("agent_name") or _short(str(data["session_thread_id"]))))


def _workflow_created(data: dict[str, Any], _: ToolNames) -> Summary:
    return Summary(str(data["name"]))


def _workflow_ended(data: dict[str, Any], _: ToolNames) -> Summary:
    result = data["result"]
    kind = str(result.get("type", "?"))
    error = result.get("error")
    if isinstance(error, dict):
        kind += f": {error.get('type', 'error')}: {first_line(str(error.get('message', '')))}"
    return Summary(kind, "bad" if kind.startswith("error") else "")


_BY_TYPE: dict[str, Summarizer] = {
    "user.message": _message,
    "system.message": _message,
    "agent.message": _message,
    "agent.thread_message_sent": _thread_sent,
    "agent.thread_message_received": _thread_received,
    "agent.tool_use": _tool_use,
    "agent.mcp_tool_use": _tool_use,
    "agent.custom_tool_use": _tool_use,
    "agent.tool_result": _tool_result("tool_use_id"),
    "agent.mcp_tool_result": _tool_result("mcp_tool_use_id"),
    "user.tool_result": _tool_result("tool_use_id"),
    "user.custom_tool_result": _tool_result("custom_tool_use_id"),
    "user.tool_confirmation": _confirmation,
    "user.define_outcome": _outcome,
    "session.status_idle": _idle,
    "session.thread_status_idle": _idle,
    "session.error": _error,
    "workflow_run.error": _error,
    "session.updated": _updated,
    "session.usage": _usage,
    "span.model_request_end": _model_request_end,
    "span.outcome_evaluation_start": _iteration,
    "span.outcome_evaluation_ongoing": _iteration,
    "span.outcome_evaluation_end": _evaluation_end,
    "session.thread_created": _thread,
    "session.thread_status_running": _thread,
    "session.thread_status_rescheduled": _thread,
    "session.thread_status_terminated": _thread,
    "workflow_run.created": _workflow_created,
    "workflow_run.status_ended": _workflow_ended,
}


def _short(identifier: str) -> str:
    """`toolu_…1a2b3c4d`: the id's prefix and its last 8 characters."""
    prefix, _, rest = identifier.rpartition("_")
    return f"{prefix}_…{rest[-8:]}" if prefix and len(rest) > 8 else identifier


def _brief(value: Any) -> str:
    if isinstance(value, str):
        text = first_line(value)
        return orjson.dumps(_cut(text)).decode()
    return _cut(_compact(value))


def _compact(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def _cut(text: str) -> str:
    return text if len(text) <= GENERIC_VALUE_CHARS else text[: GENERIC_VALUE_CHARS - 1] + "…"
