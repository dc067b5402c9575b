"""Reading and validating a policy file: every error names the file, the line and the rule."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consumers.approvals.policy.model import PolicyError
from consumers.approvals.policy.paths import DEFAULT_HOME, DEFAULT_ROOT, normalize
from consumers.approvals.policy.rules import (
    KINDS,
    Conditions,
    Kind,
    PathMatcher,
    RegexMatcher,
    Rule,
    Settings,
    parse_rule,
    parse_tool,
)
from consumers.approvals.policy.sources import Lines, Syntax, parse, syntax_of

TOP_KEYS = frozenset({"version", "default", "default_message", "root", "home", "strict", *KINDS})
RULE_KEYS = frozenset({"rule", "regex", "reason", "when"})
WHEN_KEYS = frozenset({"agent_id", "metadata"})
DEFAULT_DENY_MESSAGE = "The approval policy does not allow this call."
# The input fields of the built-in tools (spec §7); a regex on another field can never match.
INPUT_FIELDS = {
    "bash": {"command"},
    "read": {"file_path"},
    "write": {"file_path", "content"},
    "edit": {"file_path", "old_string", "new_string"},
    "glob": {"pattern", "path"},
    "grep": {"pattern", "path"},
    "web_fetch": {"url"},
    "web_search": {"query"},
}


@dataclass
class Loaded:
    """A validated policy, ready for `Policy`."""

    rules: dict[Kind, list[Rule]]
    default: Kind
    default_message: str
    settings: Settings
    warnings: list[str] = field(default_factory=list)


def load_text(text: str, source: str, syntax: Syntax | None = None) -> Loaded:
    """Parse and validate `text`; raises PolicyError naming `source`, the line and the rule.

    `syntax` defaults to YAML for `.yaml`/`.yml` sources and TOML otherwise.
    """
    data, lines = parse(text, source, syntax or syntax_of(source))
    return _Loader(lines, source).load(data)


class _Loader:
    def __init__(self, lines: Lines, source: str) -> None:
        self.lines = lines
        self.source = source
        self.warnings: list[str] = []

    def key_line(self, key: str) -> int:
        return self.lines.key(key)

    def sub_line(self, line: int, key: str) -> int:
        return self.lines.sub(line, key)

    def rule_line(self, kind: Kind, index: int, entry: Any) -> int:
        return self.lines.rule(kind, index, entry)

    def load(self, data: dict[str, Any]) -> Loaded:
        for key in data:
            if key not in TOP_KEYS:
                self.fail(self.key_line(key), f"unknown key {key!r}")
        self.check_top(data)
        default = data.get("default", "ask")
        settings = Settings(
            root=self.directory(data, "root", DEFAULT_ROOT),
            home=self.directory(data, "home", DEFAULT_HOME),
        )
        strict = data.get("strict", True)
        rules: dict[Kind, list[Rule]] = {kind: [] for kind in KINDS}
        for kind in KINDS:
            for index, entry in enumerate(self.entries(data, kind)):
                rule = self.rule(kind, index, entry, settings, strict)
                if rule is not None:
                    rules[kind].append(rule)
        self.check_shadowing(rules, settings)
        message = data.get("default_message", DEFAULT_DENY_MESSAGE)
        return Loaded(rules, default, message, settings, self.warnings)

    def fail(self, line: int, message: str) -> None:
        raise PolicyError(f"{self.source}:{line}: {message}")

    def check_top(self, data: dict[str, Any]) -> None:
        if data.get("version", 1) != 1:
            self.fail(self.key_line("version"), "unsupported version (this engine reads 1)")
        if data.get("default", "ask") not in ("ask", "deny"):
            self.fail(self.key_line("default"), 'default must be "ask" or "deny"')
        if not isinstance(data.get("default_message", ""), str):
            self.fail(self.key_line("default_message"), "default_message must be a string")
        if not isinstance(data.get("strict", True), bool):
            self.fail(self.key_line("strict"), "strict must be true or false")

    def directory(self, data: dict[str, Any], key: str, default: str) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value.startswith("/"):
            self.fail(self.key_line(key), f"{key} must be an absolute path")
        return normalize(value, "/")

    def entries(self, data: dict[str, Any], kind: Kind) -> list[Any]:
        value = data.get(kind, [])
        if not isinstance(value, list):
            self.fail(self.key_line(kind), f"{kind} must be a list of rules")
        return list(value)

    def rule(
        self, kind: Kind, index: int, entry: Any, settings: Settings, strict: bool
    ) -> Rule | None:
        line = self.rule_line(kind, index, entry)
        table: Mapping[str, Any] = {"rule": entry} if isinstance(entry, str) else entry
        if not isinstance(table, Mapping):
            self.fail(line, f"{kind} rule #{index + 1}: expected a string or a table")
        text = _render(table)
        where = f"{kind} rule {text!r}"
        for key in table:
            if key not in RULE_KEYS:
                self.fail(self.sub_line(line, key), f"{where}: unknown key {key!r}")
        if ("rule" in table) == ("regex" in table):
            self.fail(line, f"{where}: give exactly one of 'rule' or 'regex'")
        reason = table.get("reason")
        if reason is not None and not isinstance(reason, str):
            self.fail(self.sub_line(line, "reason"), f"{where}: reason must be a string")
        when = self.conditions(table.get("when", {}), self.sub_line(line, "when"), where)
        try:
            tool, matcher = (
                parse_rule(table["rule"], settings)
                if "rule" in table
                else self.regex(table["regex"], where, line)
            )
        except (ValueError, TypeError) as exc:
            if strict or not str(exc).startswith("unknown tool"):
                self.fail(line, f"{where}: {exc}")
            self.warn(line, f"{where} can never match: {exc}")
            return None
        rule = Rule(kind, text, tool, matcher, line, reason, when)
        self.check_reachable(rule, settings)
        return rule

    def regex(self, spec: Any, where: str, line: int) -> tuple[str, RegexMatcher]:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("tool"), str):
            raise TypeError("regex must be a table with a 'tool' and at least one field")
        tool = parse_tool(spec["tool"])
        fields: list[tuple[str, re.Pattern[str]]] = []
        for name, pattern in spec.items():
            if name == "tool":
                continue
            if not isinstance(pattern, str):
                raise TypeError(f"regex field {name!r} must be a string")
            try:
                fields.append((name, re.compile(pattern)))
            except re.error as exc:
                raise ValueError(f"invalid regex for {name!r}: {exc}") from None
            known = INPUT_FIELDS.get(tool)
            if known is not None and name not in known:
                self.warn(line, f"{where} can never match: {tool} has no input field {name!r}")
        if not fields:
            raise ValueError("regex needs at least one field besides 'tool'")
        return tool, RegexMatcher(tuple(fields))

    def conditions(self, when: Any, line: int, where: str) -> Conditions:
        if not isinstance(when, Mapping):
            self.fail(line, f"{where}: when must be a table")
        for key in when:
            if key not in WHEN_KEYS:
                self.fail(line, f"{where}: unknown condition {key!r}")
        agent_ids = None
        if "agent_id" in when:
            agent_ids = self.values(when["agent_id"], line, f"{where}: when.agent_id")
            if not agent_ids:
                self.warn(line, f"{where} can never match: when.agent_id is empty")
        metadata = when.get("metadata", {})
        if not isinstance(metadata, Mapping):
            self.fail(line, f"{where}: when.metadata must be a table")
        pairs = tuple(
            (str(key), self.values(value, line, f"{where}: when.metadata.{key}"))
            for key, value in metadata.items()
        )
        return Conditions(agent_ids, pairs)

    def values(self, value: Any, line: int, what: str) -> frozenset[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            self.fail(line, f"{what} must be a string or a list of strings")
        return frozenset(items)

    def check_reachable(self, rule: Rule, settings: Settings) -> None:
        matcher = rule.matcher
        if rule.kind == "allow" and isinstance(matcher, PathMatcher):
            anchor = matcher.pattern.anchor
            inside = anchor == settings.root or anchor.startswith(settings.root.rstrip("/") + "/")
            if not inside and settings.root != "/":
                self.warn(
                    rule.line,
                    f"allow rule {rule.text!r} can never match: allow rules only match paths "
                    f"inside root {settings.root!r}",
                )

    def check_shadowing(self, rules: dict[Kind, list[Rule]], settings: Settings) -> None:
        for rank, kind in enumerate(KINDS):
            earlier: list[Rule] = [rule for higher in KINDS[:rank] for rule in rules[higher]]
            for rule in rules[kind]:
                for other in earlier:
                    if other.covers(rule):
                        self.warn(
                            rule.line,
                            f"{kind} rule {rule.text!r} can never match: shadowed by "
                            f"{other.kind} rule {other.text!r} (line {other.line})",
                        )
                        break
                earlier.append(rule)

    def warn(self, line: int, message: str) -> None:
        self.warnings.append(f"{self.source}:{line}: {message}")


def _render(table: Mapping[str, Any]) -> str:
    if isinstance(table.get("rule"), str):
        return str(table["rule"])
    regex = table.get("regex")
    if isinstance(regex, Mapping):
        inner = ", ".join(f"{key}={value!r}" for key, value in regex.items())
        return f"regex{{{inner}}}"
    return "<rule>"
