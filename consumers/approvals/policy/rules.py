"""Rules: the `Tool(specifier)` forms, regex rules, conditions, and what one part of a call is.

A call is judged as one or more parts (a shell command line has one part per command it runs
and per file it redirects to). Each rule says whether it matches a part; `strict` is set for
allow rules, which match narrowly (exact command names, paths inside the root), while deny and ask
rules match broadly (any spelling of the same flags, any path to the same command).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from consumers.approvals.policy.argv import Argv, canonical
from consumers.approvals.policy.model import BUILTIN_TOOLS, MCP_PREFIX, PATH_TOOLS, ToolCall
from consumers.approvals.policy.paths import PathPattern, compile_pattern, is_within
from consumers.approvals.policy.shell import split_words

Kind = Literal["deny", "ask", "allow"]
KINDS: tuple[Kind, ...] = ("deny", "ask", "allow")

# Claude Code's spellings (`Bash`, `WebFetch`) are accepted for the API's tool names.
TOOL_ALIASES = {name.replace("_", ""): name for name in BUILTIN_TOOLS} | {
    name: name for name in BUILTIN_TOOLS
}
_RULE = re.compile(r"(?s)([A-Za-z0-9_*.-]+)(?:\((.*)\))?")
_MCP_TOOL = re.compile(r"mcp__(\*|[A-Za-z0-9_-]+?)(__[A-Za-z0-9_*-]+)?")
_DOMAIN = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


@dataclass(frozen=True)
class Settings:
    """Where relative paths start (`root`, also the session's working directory) and `~`."""

    root: str
    home: str


@dataclass(frozen=True)
class Part:
    """One thing a call does that a rule can match.

    `role` "run" must be allowed by a rule; "wrapper" (a `timeout` around a command) and "script"
    (a whole command line, seen by regex rules) only need to pass deny and ask rules.
    `opaque` says why no specific rule can allow this part (e.g. a computed command name).
    """

    tool: str
    input: Mapping[str, Any]
    role: Literal["run", "wrapper", "script"] = "run"
    command: Argv | None = None
    path: str | None = None
    host: str | None = None
    opaque: str | None = None


class Matcher(Protocol):
    """What a rule's specifier (or regex table) says about one part."""

    def matches(self, part: Part, strict: bool, settings: Settings) -> bool: ...

    def covers(self, other: Matcher) -> bool: ...


@dataclass(frozen=True)
class AnyMatcher:
    """A bare tool name (`bash`, `web_search`, `mcp__github__*`): every use of the tool."""

    def matches(self, part: Part, strict: bool, settings: Settings) -> bool:
        return True

    def covers(self, other: Matcher) -> bool:
        return True


@dataclass(frozen=True)
class CommandMatcher:
    """`bash(npm run test:*)` (prefix), `bash(git status)` (exact), `bash(git * main)` (glob)."""

    mode: Literal["prefix", "exact", "glob"]
    argv: Argv | None = None
    glob: re.Pattern[str] | None = None

    def matches(self, part: Part, strict: bool, settings: Settings) -> bool:
        command = part.command
        if command is None or part.opaque is not None:
            return False
        if self.glob is not None:
            raw = part.input.get("command")
            texts = [command.text, raw] if isinstance(raw, str) else [command.text]
            return any(self.glob.fullmatch(text) for text in texts)
        assert self.argv is not None
        return _argv_matches(self.mode, self.argv, command, strict)

    def covers(self, other: Matcher) -> bool:
        if not isinstance(other, CommandMatcher) or other.argv is None or self.argv is None:
            return self == other
        if self.mode == "exact" and other.mode == "prefix":
            return False
        return _argv_matches(self.mode, self.argv, other.argv, strict=False)


def _argv_matches(mode: str, rule: Argv, command: Argv, strict: bool) -> bool:
    if strict:
        if mode == "prefix":
            return command.tokens[: len(rule.tokens)] == rule.tokens
        return command.tokens == rule.tokens
    same_name = rule.name == command.name if "/" in rule.name else rule.base == command.base
    if not same_name or not rule.flags <= command.flags:
        return False
    if mode == "prefix":
        # In order but not necessarily adjacent: `git -C repo push -f` is still `git push -f`.
        remaining = iter(command.operands)
        return all(operand in remaining for operand in rule.operands)
    return command.operands == rule.operands


@dataclass(frozen=True)
class PathMatcher:
    """`read(./src/**)`, `edit(//etc/**)`, `write(~/.ssh/**)`: a gitignore-like pattern."""

    pattern: PathPattern

    def matches(self, part: Part, strict: bool, settings: Settings) -> bool:
        if part.path is None or part.opaque is not None:
            return False
        return self.pattern.matches(part.path)

    def covers(self, other: Matcher) -> bool:
        return isinstance(other, PathMatcher) and self.pattern.covers(other.pattern)


@dataclass(frozen=True)
class DomainMatcher:
    """`web_fetch(domain:docs.python.org)`; `domain:*.python.org` means subdomains only."""

    domain: str
    subdomains: bool

    def matches(self, part: Part, strict: bool, settings: Settings) -> bool:
        host = part.host
        if host is None or (strict and part.opaque is not None):
            return False
        if self.subdomains:
            return host.endswith("." + self.domain)
        return host == self.domain

    def covers(self, other: Matcher) -> bool:
        if not isinstance(other, DomainMatcher):
            return False
        if self.subdomains:
            return other.domain.endswith("." + self.domain)
        return not other.subdomains and other.domain == self.domain


@dataclass(frozen=True)
class RegexMatcher:
    """`regex = { tool = "bash", command = "curl .*\\|\\s*sh" }`: every field must match.

    Field values are searched (`re.search`); anchor with `^`/`$` to match a whole value. For a
    shell command a deny or ask regex sees the whole command line and each command in it; an
    allow regex sees each command alone, so a compound line is allowed only command by command.
    """

    fields: tuple[tuple[str, re.Pattern[str]], ...]

    def matches(self, part: Part, strict: bool, settings: Settings) -> bool:
        if strict and part.role == "script":
            return False
        return all(self._field(name, pattern, part, strict) for name, pattern in self.fields)

    @staticmethod
    def _field(name: str, pattern: re.Pattern[str], part: Part, strict: bool) -> bool:
        values: list[str] = []
        raw = part.input.get(name)
        if isinstance(raw, str) and not (strict and part.path is not None):
            values.append(raw)
        if name in ("file_path", "path") and part.path is not None:
            values.append(part.path)
        if name == "command" and part.command is not None and not strict:
            values.append(part.command.text)
        return any(pattern.search(value) for value in values)

    def covers(self, other: Matcher) -> bool:
        return self == other


@dataclass(frozen=True)
class Conditions:
    """`when = { agent_id = ..., metadata = { key = value } }`; a list means any of its values."""

    agent_ids: frozenset[str] | None = None
    metadata: tuple[tuple[str, frozenset[str]], ...] = ()

    def hold(self, call: ToolCall) -> bool:
        """Whether the call is one the rule is about."""
        if self.agent_ids is not None and call.agent_id not in self.agent_ids:
            return False
        return all(call.session_metadata.get(key) in values for key, values in self.metadata)


@dataclass(frozen=True)
class Rule:
    """One rule of the policy, as loaded."""

    kind: Kind
    text: str  # the rule as written (a regex table is rendered as `regex{tool=..., ...}`)
    tool: str  # a tool name or an MCP tool glob
    matcher: Matcher
    line: int
    reason: str | None = None
    when: Conditions = field(default_factory=Conditions)

    def matches(self, part: Part, call: ToolCall, settings: Settings) -> bool:
        """Whether this rule applies to `part` of `call`."""
        if not fnmatch.fnmatchcase(part.tool, self.tool):
            return False
        if (
            self.kind == "allow"
            and part.path is not None
            and not is_within(part.path, settings.root)
        ):
            return False  # a path that escapes the root is never allowed by a rule
        return self.when.hold(call) and self.matcher.matches(part, self.kind == "allow", settings)

    def covers(self, other: Rule) -> bool:
        """Best effort: whether this rule matches everything `other` matches."""
        if self.when != Conditions() and self.when != other.when:
            return False
        if not fnmatch.fnmatchcase(other.tool, self.tool):
            return False
        return self.matcher.covers(other.matcher)


def parse_tool(name: str) -> str:
    """The canonical tool name (or MCP glob) for a rule's tool; ValueError when unknown."""
    if name.lower().startswith(MCP_PREFIX):
        found = _MCP_TOOL.fullmatch(name)
        if found is None:
            raise ValueError(f"bad MCP tool name {name!r} (use mcp__<server>__<tool>)")
        return name if found.group(2) else name + ("" if name == "mcp__*" else "__*")
    tool = TOOL_ALIASES.get(name.lower())
    if tool is None:
        raise ValueError(f"unknown tool {name!r} (known: {', '.join(BUILTIN_TOOLS)}, mcp__...)")
    return tool


def parse_rule(text: str, settings: Settings) -> tuple[str, Matcher]:
    """Parse `Tool` or `Tool(specifier)`; ValueError with a short reason when it is wrong."""
    found = _RULE.fullmatch(text.strip())
    if found is None:
        raise ValueError("expected Tool or Tool(specifier), e.g. bash(npm run test:*)")
    tool = parse_tool(found.group(1))
    spec = found.group(2)
    if spec is None or (spec == "*" and tool != "bash"):
        return tool, AnyMatcher()
    if not spec.strip():
        raise ValueError("empty specifier; write the bare tool name to match every use")
    if tool == "bash":
        return tool, _command_matcher(spec)
    if tool in PATH_TOOLS:
        return tool, PathMatcher(compile_pattern(spec, settings.root, settings.home))
    if tool == "web_fetch":
        return tool, _domain_matcher(spec)
    raise ValueError(f"{tool} takes no specifier; write the bare tool name")


def _command_matcher(spec: str) -> Matcher:
    if spec.strip() == "*":
        return AnyMatcher()
    prefix = spec.endswith(":*")
    body = spec[:-2] if prefix else spec
    if "*" in body:
        pattern = ".*".join(re.escape(piece) for piece in body.split("*"))
        return CommandMatcher("glob", glob=re.compile(pattern + ("( .*)?" if prefix else "")))
    try:
        words = split_words(body)
    except ValueError as exc:
        raise ValueError(f"bad shell quoting in specifier: {exc}") from None
    if not words:
        raise ValueError("empty command in specifier")
    return CommandMatcher("prefix" if prefix else "exact", argv=canonical(words))


def _domain_matcher(spec: str) -> Matcher:
    if not spec.startswith("domain:"):
        raise ValueError("web_fetch takes domain:HOST, e.g. web_fetch(domain:docs.python.org)")
    domain = spec[len("domain:") :].strip().lower().rstrip(".")
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"bad domain {domain!r}")
    if domain.startswith("*."):
        return DomainMatcher(domain[2:], subdomains=True)
    return DomainMatcher(domain, subdomains=False)
