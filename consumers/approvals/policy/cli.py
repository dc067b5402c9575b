"""`streamer policy check FILE` and `streamer policy eval FILE TOOL INPUT`: try a policy offline.

streamer policy check deploy/policies/example.toml           # exit 1 if invalid
streamer policy eval deploy/policies/example.toml bash '{"command": "rm -rf /"}'
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from consumers.approvals.policy import Policy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`check` validates a file; `eval` prints the decision for one tool call as JSON."""
    actions = parser.add_subparsers(dest="policy_action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate a policy file and print its warnings")
    check.add_argument("file", help="the policy file (TOML, or YAML if named .yaml/.yml)")
    check.add_argument(
        "--fail-on-warnings", action="store_true", help="exit 1 when there are warnings"
    )
    evaluate = actions.add_parser("eval", help="print the decision for one tool call")
    evaluate.add_argument("file", help="the policy file (TOML, or YAML if named .yaml/.yml)")
    evaluate.add_argument("tool", help='the tool name, e.g. bash or "mcp__github__create_issue"')
    evaluate.add_argument("input", help='the tool input as JSON, e.g. \'{"command": "ls"}\'')
    evaluate.add_argument("--agent-id", default=None, help="the calling agent's id")
    evaluate.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="session metadata (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; invalid policies and inputs are reported on stderr with exit 1."""
    # Imported here so that building `streamer`'s parser stays light (see streamer/cli.py).
    from consumers.approvals.policy import Policy, PolicyError  # noqa: PLC0415

    try:
        policy = Policy.load(args.file)
    except PolicyError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    for warning in policy.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    if args.policy_action == "check":
        sys.stdout.write(f"{args.file}: valid, version {policy.version}\n")
        return 1 if args.fail_on_warnings and policy.warnings else 0
    return _evaluate(policy, args)


def _evaluate(policy: Policy, args: argparse.Namespace) -> int:
    from consumers.approvals.policy import ToolCall  # noqa: PLC0415 - as in run()

    try:
        tool_input = json.loads(args.input)
        metadata = dict(pair.split("=", 1) for pair in args.metadata)
    except ValueError as exc:
        sys.stderr.write(f"error: bad input or metadata: {exc}\n")
        return 1
    call = ToolCall(args.tool, tool_input, agent_id=args.agent_id, session_metadata=metadata)
    sys.stdout.write(json.dumps(dataclasses.asdict(policy.evaluate(call))) + "\n")
    return 0
