"""The approval policy engine: Claude Code style permission rules for Managed Agents tool calls.

A pure library (no Kafka, no HTTP). The approval bot loads a policy once and asks it about each
pending tool use:

    policy = Policy.load("deploy/policies/example.toml")
    decision = policy.evaluate(ToolCall(tool="bash", input={"command": "npm run test"}))
    decision.action  # "allow", "deny" or "ask"

The file format and the matching rules are described in docs/APPROVAL-POLICY.md.
"""

from consumers.approvals.policy.engine import Policy
from consumers.approvals.policy.model import Decision, PolicyError, ToolCall

__all__ = ["Decision", "Policy", "PolicyError", "ToolCall"]
