"""The fixed label vocabularies of the metrics consumer (docs/METRICS.md lists them).

Every label value the consumer exports comes out of a function here: a value outside a
vocabulary becomes `other` (and the caller counts a problem), so a fleet of a million sessions
has the same series as a fleet of ten.
"""

from __future__ import annotations

import re
from typing import Any

OTHER = "other"

TOKEN_TYPES = ("input", "output", "cache_read", "cache_creation")
# (token_type, key in `model_usage` / outcome `usage`)
USAGE_FIELDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_input_tokens"),
    ("cache_creation", "cache_creation_input_tokens"),
)
# One model request never uses more than this many tokens of one kind (context windows are
# about a million); a bigger figure is corrupt input, not usage.
MAX_TOKENS_PER_REQUEST = 100_000_000

# The persisted event types of the API (spec §4: the SDK's 41, and `session.deleted`).
EVENT_TYPES = frozenset(
    {
        "user.message", "user.interrupt", "user.tool_confirmation", "user.custom_tool_result",
        "user.tool_result", "user.define_outcome", "system.message",
        "agent.message", "agent.thinking", "agent.tool_use", "agent.tool_result",
        "agent.mcp_tool_use", "agent.mcp_tool_result", "agent.custom_tool_use",
        "agent.thread_message_sent", "agent.thread_message_received",
        "agent.thread_context_compacted",
        "session.status_running", "session.status_idle", "session.status_rescheduled",
        "session.status_terminated", "session.error", "session.updated", "session.usage",
        "session.deleted", "session.thread_created", "session.thread_status_running",
        "session.thread_status_idle", "session.thread_status_rescheduled",
        "session.thread_status_terminated",
        "span.model_request_start", "span.model_request_end", "span.outcome_evaluation_start",
        "span.outcome_evaluation_ongoing", "span.outcome_evaluation_end",
        "workflow_run.created", "workflow_run.status_running", "workflow_run.status_idle",
        "workflow_run.phase_started", "workflow_run.phase_ended", "workflow_run.error",
        "workflow_run.status_ended",
    }
)  # fmt: skip

SESSION_STATUSES = ("running", "idle", "rescheduling")
STOP_REASONS = frozenset(
    {"end_turn", "requires_action", "retries_exhausted", "budget_reached", "refusal"}
)
ERROR_TYPES = frozenset(
    {
        "unknown_error", "model_overloaded_error", "model_rate_limited_error",
        "model_request_failed_error", "billing_error", "mcp_connection_failed_error",
        "mcp_authentication_failed_error", "credential_host_unreachable_error",
        "tool_use_limit_reached_error", "compaction_limit_reached_error",
        "repository_authentication_error", "repository_forbidden_error",
        "repository_not_found_error", "repository_checkout_error", "repository_clone_error",
    }
)  # fmt: skip
RETRY_STATUSES = frozenset({"retrying", "exhausted", "terminal"})
PERMISSIONS = frozenset({"allow", "ask", "deny"})
NO_PERMISSION = "none"  # custom tools are never policy-gated: their uses carry no permission
BUILTIN_TOOLS = frozenset(
    {"bash", "read", "write", "edit", "glob", "grep", "web_fetch", "web_search"}
)
CUSTOM_TOOL = "custom"
MAX_MCP_SERVERS = 20  # distinct `mcp__<server>` values per partition; more become `other`
_MCP_SERVER = re.compile(r"[A-Za-z0-9_.-]{1,64}")

DECISIONS = frozenset({"allow", "deny"})
# `decided_by` of the approval bot's audit records -> the label (issue 10: policy, person,
# timeout, other client).
DECIDED_BY = ("policy", "person", "timeout", "other_client")

# Every problem the consumer counts (`agents_metrics_problems_total{problem}`).
PROBLEMS = (
    "not_an_event",  # a record of the topic that is not a session event
    "event_type_unknown",  # counted as type="other"
    "usage_malformed",  # model_usage / usage missing, not an object, a field not an integer
    "usage_out_of_range",  # a negative or implausibly huge token count
    "usage_snapshot_backwards",  # a session.usage snapshot lower than the one before
    "cost_malformed",  # list_cost not {amount: "<int>", currency: "USD"}
    "tool_unknown",  # a tool name outside the vocabulary: counted as tool="other"
    "tool_label_capped",  # an MCP server past the cap or with an odd name: tool="other"
    "model_missing",  # the record names no model (no ce_agentmodel header): model="other"
    "model_unknown",  # a model not in the price table: model="other", cost not estimated
    "label_unknown",  # a stop reason, error type, retry status, permission outside its vocabulary
    "timestamp_invalid",  # processed_at missing or not RFC 3339: no duration observed
    "span_unmatched",  # a span end without its start
    "tool_result_unmatched",  # a tool result whose tool use was not seen
    "confirmation_unmatched",  # a tool confirmation for no pending tool use
    "audit_record_invalid",  # an approvals-topic record that is not an audit record
    "audit_duplicate",  # an audit record already counted (the bot wrote it twice)
)


def tool_label(data: dict[str, Any], event_type: str, mcp_seen: set[str]) -> tuple[str, str | None]:
    """The `tool` label of a tool use and the problem it raises, if any.

    Built-in names as they are; `mcp__<server>` per MCP server (never per MCP tool), the first
    `MAX_MCP_SERVERS` of a partition; `custom` for custom tools; `other` otherwise.
    """
    if event_type == "agent.custom_tool_use":
        return CUSTOM_TOOL, None
    if event_type == "agent.mcp_tool_use":
        server = data.get("mcp_server_name")
        if not isinstance(server, str) or not _MCP_SERVER.fullmatch(server):
            return OTHER, "tool_label_capped"
        if server not in mcp_seen:
            if len(mcp_seen) >= MAX_MCP_SERVERS:
                return OTHER, "tool_label_capped"
            mcp_seen.add(server)
        return f"mcp__{server}", None
    name = data.get("name")
    if isinstance(name, str) and name in BUILTIN_TOOLS:
        return name, None
    return OTHER, "tool_unknown"


def permission_label(data: dict[str, Any], event_type: str) -> tuple[str, str | None]:
    """The `permission` label: the event's `evaluated_permission`, `none` for custom tools."""
    value = data.get("evaluated_permission")
    if value is None:
        return NO_PERMISSION, None
    if isinstance(value, str) and value in PERMISSIONS:
        return value, None
    return OTHER, "label_unknown"


def in_vocabulary(value: object, vocabulary: frozenset[str]) -> tuple[str, str | None]:
    """`value` when it is in `vocabulary`, else `other` and the problem `label_unknown`."""
    if isinstance(value, str) and value in vocabulary:
        return value, None
    return OTHER, "label_unknown"


def decided_by_label(decided_by: object) -> str | None:
    """The approval bot's `decided_by` as a label; None when it is not one the bot writes."""
    if decided_by in ("policy", "timeout"):
        return str(decided_by)
    if isinstance(decided_by, str) and decided_by.startswith("human:"):
        return "person"
    if decided_by == "external":
        return "other_client"
    return None


def usage_counts(usage: object) -> tuple[tuple[int, int, int, int] | None, str | None]:
    """The four token counts of a `model_usage` / outcome `usage` object, or the problem.

    Input and output are required, the cache figures default to 0; all must be non-negative
    integers up to `MAX_TOKENS_PER_REQUEST`, otherwise nothing of the object is counted (a partly
    corrupt record would miscount the rest).
    """
    if not isinstance(usage, dict):
        return None, "usage_malformed"
    counts = []
    for token_type, key in USAGE_FIELDS:
        value = usage.get(key, 0 if token_type.startswith("cache") else None)
        if type(value) is not int:  # bool is an int subclass: not a count
            return None, "usage_malformed"
        if not 0 <= value <= MAX_TOKENS_PER_REQUEST:
            return None, "usage_out_of_range"
        counts.append(value)
    return (counts[0], counts[1], counts[2], counts[3]), None
