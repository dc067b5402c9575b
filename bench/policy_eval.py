"""How long one `Policy.evaluate` takes, per kind of call (the approval bot's hot path).

    .venv/bin/python bench/policy_eval.py [--seconds 1.0]

Uses deploy/policies/example.toml. Prints p50/p99 per call kind in microseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from consumers.approvals.policy import Policy, ToolCall

CALLS = {
    "bash simple (allow)": ToolCall("bash", {"command": "npm run test -- --watch"}),
    "bash compound (deny)": ToolCall(
        "bash", {"command": "npm run test && timeout 5 bash -c 'rm -fr build' > build/log"}
    ),
    "bash 40-part pipeline": ToolCall("bash", {"command": " | ".join(["cat a b"] * 40)}),
    "read (allow)": ToolCall("read", {"file_path": "/workspace/src/app/main.py"}),
    "web_fetch (allow)": ToolCall("web_fetch", {"url": "https://docs.python.org/3/library/"}),
    "mcp (ask)": ToolCall("mcp__github__create_pull_request", {"title": "x", "body": "y" * 2000}),
    "huge command (ask)": ToolCall("bash", {"command": "echo " + "a" * 70_000}),
}


def measure(policy: Policy, call: ToolCall, seconds: float) -> list[float]:
    """Per-call durations in microseconds, evaluated repeatedly for about `seconds`."""
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter_ns()
        policy.evaluate(call)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def main() -> None:
    """Run every call kind and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per call kind")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    policy = Policy.load(root / "deploy" / "policies" / "example.toml")
    print("| call | decision | n | p50 µs | p99 µs |")
    print("|---|---|---|---|---|")
    for name, call in CALLS.items():
        samples = measure(policy, call, args.seconds)
        p99 = statistics.quantiles(samples, n=100)[98]
        action = policy.evaluate(call).action
        p50 = statistics.median(samples)
        print(f"| {name} | {action} | {len(samples)} | {p50:.0f} | {p99:.0f} |")


if __name__ == "__main__":
    main()
