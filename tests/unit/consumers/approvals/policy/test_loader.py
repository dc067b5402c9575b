"""Loading and validating policy files: errors name the file, the line and the rule."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from consumers.approvals.policy import Policy, PolicyError, ToolCall


def load_error(text: str) -> str:
    """The PolicyError message for `text`, loaded as p.toml."""
    with pytest.raises(PolicyError) as raised:
        Policy.from_text(text, "p.toml")
    return str(raised.value)


def test_toml_syntax_error_names_the_line() -> None:
    """A file that is not TOML is refused with the line of the problem."""
    message = load_error('version = 1\n[[deny]\nrule = "bash"\n')
    assert message.startswith("p.toml:2: invalid TOML:")


def test_unknown_tool_names_line_and_rule() -> None:
    """A typo in a tool name is an error, not a silent never-matching rule."""
    text = 'version = 1\n\n[[allow]]\nrule = "bsh(ls)"\n'
    assert "p.toml:3: allow rule 'bsh(ls)': unknown tool 'bsh'" in load_error(text)


def test_unknown_tool_is_a_warning_when_not_strict() -> None:
    """`strict = false` turns an unknown tool into a warning and skips the rule."""
    policy = Policy.from_text('strict = false\n\n[[allow]]\nrule = "bsh(ls)"\n', "p.toml")
    assert ["p.toml:3: allow rule 'bsh(ls)' can never match: unknown tool 'bsh' (known: "] == [
        warning.split("bash")[0] for warning in policy.warnings
    ]


def test_unbalanced_parenthesis_names_line_and_rule() -> None:
    """`bash(rm -rf:*` is not a rule."""
    assert load_error('[[deny]]\nrule = "bash(rm -rf:*"\n').startswith(
        "p.toml:1: deny rule 'bash(rm -rf:*': expected Tool or Tool(specifier)"
    )


def test_bad_shell_quoting_in_a_specifier() -> None:
    """An unterminated quote in a bash specifier is an error."""
    assert 'p.toml:2: deny rule "bash(echo \'x:*)": bad shell quoting' in load_error(
        '\n[[deny]]\nrule = "bash(echo \'x:*)"\n'
    )


def test_specifier_on_a_tool_without_one() -> None:
    """`web_search(x)` is refused: web_search takes no specifier."""
    assert "p.toml:1: allow rule 'web_search(x)': web_search takes no specifier" in load_error(
        'allow = ["web_search(x)"]'
    )


def test_web_fetch_needs_the_domain_form() -> None:
    """`web_fetch(docs.python.org)` must be written `web_fetch(domain:docs.python.org)`."""
    assert "web_fetch takes domain:HOST" in load_error('allow = ["web_fetch(docs.python.org)"]')


def test_bad_domain() -> None:
    """A domain with a path or spaces is refused."""
    assert "bad domain 'x.org/path'" in load_error('allow = ["web_fetch(domain:x.org/path)"]')


def test_empty_specifier() -> None:
    """`bash()` is refused: the bare name says 'everything'."""
    assert "empty specifier" in load_error('deny = ["bash()"]')


def test_invalid_regex_names_line_rule_and_field() -> None:
    """A regex that does not compile is refused at load."""
    text = 'version = 1\n[[deny]]\nregex = { tool = "bash", command = "curl (" }\n'
    message = load_error(text)
    assert message.startswith(
        "p.toml:2: deny rule \"regex{tool='bash', command='curl ('}\": invalid regex for 'command'"
    )


def test_regex_without_a_field() -> None:
    """A regex table needs a field besides the tool."""
    assert "regex needs at least one field" in load_error('[[deny]]\nregex = { tool = "bash" }\n')


def test_unknown_rule_key_names_its_line() -> None:
    """A misspelt key inside a rule points at the key's own line."""
    text = '[[deny]]\nrule = "bash(rm:*)"\nreson = "typo"\n'
    assert "p.toml:3: deny rule 'bash(rm:*)': unknown key 'reson'" in load_error(text)


def test_unknown_top_level_key() -> None:
    """A misspelt top-level key is refused with its line."""
    assert "p.toml:2: unknown key 'defualt'" in load_error('version = 1\ndefualt = "deny"\n')


def test_unknown_condition() -> None:
    """Only agent_id and metadata are conditions."""
    text = '[[allow]]\nrule = "bash"\nwhen = { agent = "a" }\n'
    assert "p.toml:3: allow rule 'bash': unknown condition 'agent'" in load_error(text)


def test_rule_and_regex_together() -> None:
    """A rule is either a `rule` or a `regex`."""
    text = '[[allow]]\nrule = "bash"\nregex = { tool = "bash", command = "x" }\n'
    assert "give exactly one of 'rule' or 'regex'" in load_error(text)


def test_bad_default() -> None:
    """`default` is ask or deny."""
    assert 'p.toml:1: default must be "ask" or "deny"' in load_error('default = "allow"')


def test_unsupported_version() -> None:
    """Only version 1 exists."""
    assert "p.toml:1: unsupported version" in load_error("version = 2")


def test_relative_root() -> None:
    """`root` must be absolute."""
    assert "p.toml:1: root must be an absolute path" in load_error('root = "workspace"')


def test_compact_list_errors_name_the_rule_line() -> None:
    """In the `deny = [...]` form the error points at the line of the bad entry."""
    text = 'deny = [\n  "bash(rm:*)",\n  "nope(x)",\n]\n'
    assert load_error(text).startswith("p.toml:3: deny rule 'nope(x)': unknown tool 'nope'")


def test_compact_and_table_forms_are_equivalent() -> None:
    """`deny = ["bash(rm:*)"]` denies like a `[[deny]]` table."""
    policy = Policy.from_text('deny = ["bash(rm:*)", { rule = "read", reason = "no" }]')
    assert ("deny", "deny") == (
        policy.evaluate(ToolCall("bash", {"command": "rm x"})).action,
        policy.evaluate(ToolCall("read", {"file_path": "x"})).action,
    )


def test_claude_code_tool_spellings_are_accepted() -> None:
    """`Bash(...)`, `WebFetch(...)` and `Read(...)` read as in Claude Code settings."""
    policy = Policy.from_text('allow = ["Bash(ls)", "WebFetch(domain:x.org)", "Read(./a)"]')
    assert [] == policy.warnings


def test_allow_shadowed_by_a_broader_deny_is_warned() -> None:
    """An allow that a deny covers entirely can never match."""
    text = 'deny = ["bash(git push:*)"]\nallow = [\n  "bash(git push origin main)",\n]\n'
    expected = [
        (
            "p.toml:3: allow rule 'bash(git push origin main)' can never match: shadowed by "
            "deny rule 'bash(git push:*)' (line 1)"
        )
    ]
    assert expected == Policy.from_text(text, "p.toml").warnings


def test_allow_shadowed_by_a_path_deny_is_warned() -> None:
    """`deny read(./src/**)` shadows `allow read(./src/app/*.py)`."""
    text = '[[deny]]\nrule = "read(./src/**)"\n[[allow]]\nrule = "read(./src/app/*.py)"\n'
    assert 1 == len(Policy.from_text(text).warnings)


def test_ask_shadowed_by_a_deny_is_warned() -> None:
    """An ask covered by a deny can never match either."""
    text = 'deny = ["mcp__github"]\nask = ["mcp__github__create_issue"]\n'
    expected = [
        (
            "p.toml:2: ask rule 'mcp__github__create_issue' can never match: shadowed by "
            "deny rule 'mcp__github' (line 1)"
        )
    ]
    assert expected == Policy.from_text(text, "p.toml").warnings


def test_duplicate_rule_is_warned() -> None:
    """The second copy of a rule can never be the one that matches."""
    assert 1 == len(Policy.from_text('allow = ["bash(ls)", "bash(ls)"]').warnings)


def test_narrower_deny_does_not_shadow_an_allow() -> None:
    """`deny rm -rf:*` does not shadow `allow rm:*` (plain rm stays allowed)."""
    assert [] == Policy.from_text('deny = ["bash(rm -rf:*)"]\nallow = ["bash(rm:*)"]').warnings


def test_conditional_deny_does_not_shadow() -> None:
    """A deny with a condition leaves the allow reachable for other callers."""
    text = '[[deny]]\nrule = "bash"\nwhen = { agent_id = "a" }\n[[allow]]\nrule = "bash(ls)"\n'
    assert [] == Policy.from_text(text).warnings


def test_regex_on_a_field_the_tool_lacks_is_warned() -> None:
    """`bash` has no `cmd` input field, so the rule can never match."""
    policy = Policy.from_text('[[deny]]\nregex = { tool = "bash", cmd = "rm" }\n', "p.toml")
    assert [
        (
            "p.toml:1: deny rule \"regex{tool='bash', cmd='rm'}\" can never match: "
            "bash has no input field 'cmd'"
        )
    ] == policy.warnings


def test_allow_outside_the_root_is_warned() -> None:
    """An absolute allow outside the root can never match."""
    policy = Policy.from_text('allow = ["read(//etc/**)"]', "p.toml")
    assert [
        (
            "p.toml:1: allow rule 'read(//etc/**)' can never match: allow rules only match "
            "paths inside root '/workspace'"
        )
    ] == policy.warnings


def test_version_is_the_short_sha256_of_the_file(tmp_path: Path) -> None:
    """The policy version identifies the file's exact content."""
    path = tmp_path / "p.toml"
    path.write_text('allow = ["bash(ls)"]\n')
    expected = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert expected == Policy.load(path).version


def test_load_names_the_file_in_errors(tmp_path: Path) -> None:
    """Errors from `load` start with the file's path."""
    path = tmp_path / "p.toml"
    path.write_text('deny = ["bogus"]\n')
    with pytest.raises(PolicyError) as raised:
        Policy.load(path)
    assert str(raised.value).startswith(f"{path}:1: deny rule 'bogus': unknown tool")


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is a PolicyError, not an OSError."""
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        Policy.load(tmp_path / "missing.toml")


def test_binary_file(tmp_path: Path) -> None:
    """A file that is not UTF-8 is refused."""
    path = tmp_path / "p.toml"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PolicyError, match="not UTF-8"):
        Policy.load(path)


def test_shipped_example_policy_loads_without_warnings() -> None:
    """deploy/policies/example.toml is valid and has no dead rules."""
    path = Path(__file__).parents[5] / "deploy" / "policies" / "example.toml"
    assert [] == Policy.load(path).warnings


def test_compact_list_entry_of_the_wrong_type() -> None:
    """`deny = [1]` is refused with the line, not a crash."""
    assert "p.toml:1: deny rule #1: expected a string or a table" in load_error("deny = [1]")
