"""The policy engine's public values: the call to judge, the decision, the load error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["allow", "deny", "ask"]

# Built-in tools of the agent toolset (spec §4.3) and the input field each path rule looks at.
BUILTIN_TOOLS = ("bash", "read", "write", "edit", "glob", "grep", "web_fetch", "web_search")
PATH_TOOLS = ("read", "write", "edit", "glob", "grep")
MCP_PREFIX = "mcp__"


class PolicyError(Exception):
    """A policy file that cannot be used; the message names the file, the line and the rule.

    Loading happens once at start, so nothing about it is worth retrying.
    """

    retriable = False


@dataclass(frozen=True)
class ToolCall:
    """One tool use waiting for an answer, as the approval bot saw it on the events topic."""

    tool: str  # "bash", "read", ..., or "mcp__<server>__<tool>" for MCP
    input: Mapping[str, Any]  # the tool use's input, any shape (may be wrong, huge, binary)
    agent_id: str | None = None
    session_metadata: Mapping[str, str] = field(default_factory=dict)
    mcp_server_name: str | None = None


@dataclass(frozen=True)
class Decision:
    """What the policy says about one call.

    `rule` is the matched rule as written in the file (None when the default decided; for an
    allowed shell command line, the rule of each part, each once, joined by "; "); `reason`
    is, for a deny, the message that tells the agent why, and for an ask, why a person must look.
    `problem` is set when the input could not be judged, from a fixed vocabulary fit for metric
    labels: "wrong_shape", "too_large", "binary", "unparsable_command".
    """

    action: Action
    rule: str | None
    reason: str | None
    policy_version: str
    problem: str | None = None
