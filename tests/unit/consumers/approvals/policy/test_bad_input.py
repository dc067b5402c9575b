"""Tool inputs of the wrong shape, huge or binary: `evaluate` never raises, it asks."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.approvals.policy import Decision, Policy, ToolCall


@pytest.fixture(scope="module")
def policy() -> Policy:
    """A policy that would allow these tools if their input were fine."""
    return Policy.from_text(
        'allow = ["bash", "read", "web_fetch(domain:x.org)", "mcp__s__*"]\ndeny = ["write"]\n'
    )


@pytest.mark.parametrize(
    ("tool", "inputs", "problem"),
    [
        ("bash", {"command": 42}, "wrong_shape"),
        ("bash", {}, "wrong_shape"),
        ("bash", {"command": ["rm", "-rf", "/"]}, "wrong_shape"),
        ("bash", "rm -rf /", "wrong_shape"),
        ("bash", None, "wrong_shape"),
        ("read", {"file_path": None}, "wrong_shape"),
        ("read", {"file_path": ""}, "wrong_shape"),
        ("web_fetch", {"url": {"host": "x.org"}}, "wrong_shape"),
        ("bash", {"command": "echo " + "a" * 70_000}, "too_large"),
        ("mcp__s__t", {"blob": "x" * 2_000_000}, "too_large"),
        ("bash", {"command": "ls\x00rm -rf /"}, "binary"),
        ("read", {"file_path": "src/\x00/x"}, "binary"),
        ("mcp__s__t", {"data": b"\x89PNG"}, "binary"),
        ("bash", {"command": "echo $((1+2))"}, "unparsable_command"),
    ],
)
def test_bad_input_is_asked_with_a_problem_label(
    policy: Policy, tool: str, inputs: Any, problem: str
) -> None:
    """Each kind of bad input goes to a person, labelled from the fixed vocabulary."""
    decision = policy.evaluate(ToolCall(tool, inputs))
    assert ("ask", problem) == (decision.action, decision.problem)


def test_deeply_nested_input_is_asked(policy: Policy) -> None:
    """Absurd nesting is refused without recursion errors."""
    nested: dict[str, Any] = {}
    for _ in range(10_000):
        nested = {"x": nested}
    assert "ask" == policy.evaluate(ToolCall("mcp__s__t", nested)).action


def test_bare_deny_applies_to_bad_input(policy: Policy) -> None:
    """A bare `write` deny still denies a write whose input is malformed."""
    expected = Decision(
        "deny", "write", "Denied by the approval policy (rule write).", policy.version
    )
    assert expected == policy.evaluate(ToolCall("write", {"file_path": 7}))


def test_reason_explains_the_problem(policy: Policy) -> None:
    """The ask's reason says what was wrong with the input."""
    decision = policy.evaluate(ToolCall("bash", {"command": 42}))
    assert "the tool input's 'command' is not a string" == decision.reason


def test_odd_but_valid_input_is_judged_normally(policy: Policy) -> None:
    """Extra fields and unicode do not get in the way of a decision."""
    call = ToolCall("bash", {"command": "echo héllo ✓", "description": None, "extra": [1, 2]})
    assert "allow" == policy.evaluate(call).action
