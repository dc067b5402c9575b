"""Decisions for the file, web and MCP tools, conditions, regex rules and defaults."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.approvals.policy import Decision, Policy, ToolCall

POLICY = """
version = 1
root = "/workspace"

[[deny]]
rule = "read(**/.env)"
reason = "Secrets stay secret."

[[deny]]
rule = "edit(./deploy/**)"
when = { metadata = { team = ["web", "mobile"] } }
reason = "Only platform edits deploy/."

[[allow]]
rule = "read(./src/**)"

[[allow]]
rule = "edit(./src/**)"

[[allow]]
rule = "grep"

[[allow]]
rule = "glob(./src/**)"

[[allow]]
rule = "read(//etc/hosts)"

[[allow]]
rule = "web_fetch(domain:docs.python.org)"

[[allow]]
rule = "WebFetch(domain:*.github.io)"

[[allow]]
rule = "web_search"

[[allow]]
rule = "mcp__github__get_issue"

[[ask]]
rule = "mcp__github"
reason = "GitHub writes are reviewed."

[[allow]]
rule = "mcp__linear__*"
when = { agent_id = "agent_reviewer" }

[[allow]]
rule = "edit(./deploy/**)"
when = { agent_id = ["agent_ops", "agent_release"] }

[[allow]]
regex = { tool = "write", file_path = "^/workspace/tmp/[a-z0-9_-]+\\\\.log$" }
"""


@pytest.fixture(scope="module")
def policy() -> Policy:
    """The policy above."""
    return Policy.from_text(POLICY, "tools.toml")


def decide(policy: Policy, tool: str, inputs: dict[str, Any], **extra: Any) -> str:
    """The action for one call."""
    return policy.evaluate(ToolCall(tool, inputs, **extra)).action


@pytest.mark.parametrize(
    "path", ["src/app.py", "./src/app.py", "/workspace/src/a/b.py", "/workspace/docs/../src/x"]
)
def test_read_inside_an_allowed_directory_is_allowed(policy: Policy, path: str) -> None:
    """Relative and absolute spellings of a path under src/ are allowed."""
    assert "allow" == decide(policy, "read", {"file_path": path})


@pytest.mark.parametrize(
    "path", ["src/../../etc/passwd", "/workspace/src/../../etc/shadow", "src/../secrets.txt"]
)
def test_dot_dot_cannot_escape_an_allowed_directory(policy: Policy, path: str) -> None:
    """`..` is resolved before matching, so it cannot climb out of src/."""
    assert "ask" == decide(policy, "read", {"file_path": path})


def test_deny_on_a_file_name_matches_at_any_depth(policy: Policy) -> None:
    """`read(**/.env)` beats `read(./src/**)` for src/config/.env."""
    assert "deny" == decide(policy, "read", {"file_path": "src/config/.env"})


def test_absolute_allow_outside_the_root_never_matches() -> None:
    """A path outside the root is never allowed by a rule, and the rule is flagged at load."""
    policy = Policy.from_text('allow = ["read(//etc/hosts)"]', "p.toml")
    assert "ask" == decide(policy, "read", {"file_path": "/etc/hosts"})


def test_root_can_be_configured() -> None:
    """With `root = "/srv/app"`, `./src/**` means /srv/app/src/**."""
    policy = Policy.from_text('root = "/srv/app"\nallow = ["read(./src/**)"]')
    assert ("allow", "ask") == (
        decide(policy, "read", {"file_path": "/srv/app/src/x"}),
        decide(policy, "read", {"file_path": "/workspace/src/x"}),
    )


def test_bare_tool_rule_allows_every_call_inside_the_root(policy: Policy) -> None:
    """`grep` allows searches anywhere inside the root, not outside it."""
    assert ("allow", "ask") == (
        decide(policy, "grep", {"pattern": "TODO"}),
        decide(policy, "grep", {"pattern": "root:", "path": "/etc"}),
    )


def test_glob_pattern_climbing_out_is_judged_by_where_it_reaches(policy: Policy) -> None:
    """`glob(pattern="../../etc/*", path="src")` searches /etc, which src/** does not allow."""
    inputs = {"pattern": "../../etc/*", "path": "src"}
    assert ("allow", "ask") == (
        decide(policy, "glob", {"pattern": "**/*.py", "path": "src"}),
        decide(policy, "glob", inputs),
    )


def test_metadata_condition_limits_a_deny(policy: Policy) -> None:
    """The deploy/ deny applies to the web team only."""
    call = {"file_path": "deploy/k8s.yaml"}
    assert ("deny", "ask") == (
        decide(policy, "edit", call, session_metadata={"team": "web"}),
        decide(policy, "edit", call, session_metadata={"team": "platform"}),
    )


def test_agent_condition_limits_an_allow(policy: Policy) -> None:
    """The deploy/ allow applies to the listed agents only."""
    call = {"file_path": "deploy/k8s.yaml"}
    assert ("allow", "ask") == (
        decide(policy, "edit", call, agent_id="agent_ops"),
        decide(policy, "edit", call, agent_id="agent_intern"),
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://docs.python.org/3/library/re.html", "allow"),
        ("https://DOCS.python.org./3/", "allow"),
        ("https://evil.example/docs.python.org", "ask"),
        ("https://docs.python.org@evil.example/", "ask"),
        ("https://evil.example@docs.python.org/", "ask"),
        ("https://evil.example\\@docs.python.org/", "ask"),
        ("https://evil.example\\.docs.python.org/", "ask"),
        ("https://docs.python.org.evil.example/", "ask"),
        ("https://sub.docs.python.org/", "ask"),
        ("https://user.github.io/page", "allow"),
        ("https://github.io/", "ask"),
        ("not a url", "ask"),
    ],
)
def test_web_fetch_domains(policy: Policy, url: str, expected: str) -> None:
    """`domain:x` is that host only, `domain:*.x` its subdomains only; userinfo cannot fool it."""
    assert expected == decide(policy, "web_fetch", {"url": url})


def test_web_search_bare_rule(policy: Policy) -> None:
    """`web_search` allows every search."""
    assert "allow" == decide(policy, "web_search", {"query": "python re"})


def test_mcp_server_rule_covers_its_tools(policy: Policy) -> None:
    """`mcp__github` (server form) asks for every GitHub tool."""
    expected = Decision("ask", "mcp__github", "GitHub writes are reviewed.", policy.version)
    assert expected == policy.evaluate(ToolCall("mcp__github__create_issue", {"title": "x"}))


def test_mcp_ask_beats_a_more_specific_allow(policy: Policy) -> None:
    """Precedence is by list, not by specificity: the server-wide ask beats the tool allow."""
    assert "ask" == decide(policy, "mcp__github__get_issue", {"number": 1})


def test_mcp_glob_with_agent_condition(policy: Policy) -> None:
    """`mcp__linear__*` is allowed for the reviewer agent only."""
    assert ("allow", "ask") == (
        decide(policy, "mcp__linear__list_issues", {}, agent_id="agent_reviewer"),
        decide(policy, "mcp__linear__list_issues", {}, agent_id="agent_other"),
    )


def test_regex_rule_on_a_path_field(policy: Policy) -> None:
    """The write regex allows log files in tmp/ and nothing else."""
    assert ("allow", "ask") == (
        decide(policy, "write", {"file_path": "tmp/run_1.log", "content": ""}),
        decide(policy, "write", {"file_path": "tmp/../src/x.log", "content": ""}),
    )


def test_unmatched_call_is_asked_by_default(policy: Policy) -> None:
    """Without a matching rule a person decides."""
    assert Decision("ask", None, "no rule matches this call", policy.version) == policy.evaluate(
        ToolCall("write", {"file_path": "README.md", "content": "x"})
    )


def test_default_deny_sends_the_default_message() -> None:
    """`default = "deny"` denies unmatched calls with `default_message`."""
    policy = Policy.from_text('default = "deny"\ndefault_message = "Ask #platform."\n')
    expected = Decision("deny", None, "Ask #platform.", policy.version)
    assert expected == policy.evaluate(ToolCall("read", {"file_path": "x"}))


def test_default_deny_still_asks_for_what_cannot_be_judged() -> None:
    """A command whose name is computed at run time goes to a person even under default deny."""
    policy = Policy.from_text('default = "deny"')
    assert "ask" == decide(policy, "bash", {"command": "$X"})


def test_unknown_tool_in_a_call_gets_the_default(policy: Policy) -> None:
    """A tool the policy has never heard of is escalated."""
    assert "ask" == decide(policy, "teleport", {"where": "mars"})


def test_mcp_glob_rule_on_tool_names() -> None:
    """`mcp__github__get_*` allows the read-only tools, not the others."""
    policy = Policy.from_text('allow = ["mcp__github__get_*"]')
    assert ("allow", "ask") == (
        decide(policy, "mcp__github__get_issue", {}),
        decide(policy, "mcp__github__delete_repo", {}),
    )


def test_regex_rule_on_mcp_input() -> None:
    """A regex rule can look at an MCP tool's own input fields."""
    text = (
        'allow = ["mcp__github"]\n[[ask]]\nregex = { tool = "mcp__github__*", repo = "^acme/b" }\n'
    )
    policy = Policy.from_text(text)
    assert ("ask", "allow") == (
        decide(policy, "mcp__github__merge", {"repo": "acme/billing"}),
        decide(policy, "mcp__github__merge", {"repo": "acme/web"}),
    )


def test_deny_domain_still_applies_to_an_ambiguous_url() -> None:
    """Userinfo makes a URL unallowable, but a deny on its host still denies it."""
    policy = Policy.from_text('deny = ["web_fetch(domain:evil.example)"]')
    assert "deny" == decide(policy, "web_fetch", {"url": "https://docs.python.org@evil.example/"})
