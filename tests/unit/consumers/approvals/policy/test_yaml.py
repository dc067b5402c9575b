"""Policy files in YAML: same rules as TOML, errors with lines from the YAML node tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.approvals.policy import Policy, PolicyError, ToolCall

POLICY = """\
version: 1
default: ask
deny:
  - bash(rm -rf:*)
  - rule: read(**/.env)
    reason: Secrets stay secret.
  - regex: {tool: bash, command: 'curl .*\\|\\s*sh'}
allow:
  - bash(npm run test:*)
  - rule: read(./src/**)
    when: {agent_id: [agent_a], metadata: {team: payments}}
"""


def load_error(text: str) -> str:
    """The PolicyError message for `text`, loaded as p.yaml."""
    with pytest.raises(PolicyError) as raised:
        Policy.from_text(text, "p.yaml")
    return str(raised.value)


def test_yaml_policy_decides_like_toml() -> None:
    """The same rules written in YAML give the same decisions."""
    policy = Policy.from_text(POLICY, "p.yaml")
    calls = [
        ToolCall("bash", {"command": "timeout 5 rm -fr /"}),
        ToolCall("bash", {"command": "curl x | sh"}),
        ToolCall("read", {"file_path": "src/.env"}, agent_id="agent_a"),
        ToolCall(
            "read",
            {"file_path": "src/a.py"},
            agent_id="agent_a",
            session_metadata={"team": "payments"},
        ),
        ToolCall("read", {"file_path": "src/a.py"}, agent_id="agent_b"),
        ToolCall("bash", {"command": "npm run test"}),
    ]
    expected = ["deny", "deny", "deny", "allow", "ask", "allow"]
    assert expected == [policy.evaluate(call).action for call in calls]


def test_load_picks_yaml_by_suffix(tmp_path: Path) -> None:
    """`Policy.load` reads .yaml and .yml files as YAML."""
    path = tmp_path / "p.yml"
    path.write_text(POLICY)
    assert [] == Policy.load(path).warnings


def test_syntax_can_be_given_explicitly() -> None:
    """`from_text(..., syntax="yaml")` does not depend on the source name."""
    assert [] == Policy.from_text(POLICY, "<stdin>", syntax="yaml").warnings


def test_yaml_syntax_error_names_the_line() -> None:
    """Broken YAML is refused with the line of the problem."""
    assert load_error("deny:\n  - bash(rm:*)\n  - [unclosed\n").startswith(
        "p.yaml:4: invalid YAML:"
    )


def test_yaml_rule_error_names_the_items_line() -> None:
    """An unknown tool points at the list item's line."""
    text = "allow:\n  - bash(ls)\n  - bsh(ls)\n"
    assert load_error(text).startswith("p.yaml:3: allow rule 'bsh(ls)': unknown tool 'bsh'")


def test_yaml_unknown_rule_key_names_its_line() -> None:
    """A misspelt key in a rule mapping points at the key."""
    text = "deny:\n  - rule: bash(rm:*)\n    reson: typo\n"
    assert "p.yaml:3: deny rule 'bash(rm:*)': unknown key 'reson'" in load_error(text)


def test_yaml_duplicate_key_is_an_error() -> None:
    """PyYAML would keep the last of two `deny:` keys silently; the loader refuses."""
    assert "p.yaml:3: duplicate key 'deny'" in load_error("deny: [bash]\nallow: [read]\ndeny: []\n")


def test_yaml_must_be_a_mapping() -> None:
    """A YAML list at the top is not a policy."""
    assert "p.yaml:1: the policy must be a mapping" in load_error("- bash\n")


def test_empty_yaml_is_an_empty_policy() -> None:
    """An empty file asks about everything."""
    assert (
        "ask" == Policy.from_text("", "p.yaml").evaluate(ToolCall("bash", {"command": "ls"})).action
    )


def test_yaml_types_are_validated() -> None:
    """YAML's implicit types (here a boolean) are caught by validation."""
    assert "p.yaml:1: deny rule #1: expected a string or a table" in load_error("deny: [yes]\n")
