"""Policy file syntaxes (TOML, YAML): the parsed data plus where each key and rule was written.

Neither parser's plain result keeps line numbers, so each syntax comes with a `Lines` that finds
them: for TOML by scanning the text, for YAML from the node tree PyYAML composes.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any, Literal, Protocol

import yaml

from consumers.approvals.policy.model import PolicyError

Syntax = Literal["toml", "yaml"]
_TOML_LINE = re.compile(r"at line (\d+)")
_KINDS = ("deny", "ask", "allow")


class Lines(Protocol):
    """Line numbers (1-based) of what the loader complains about."""

    def key(self, key: str) -> int:
        """The line of a top-level key."""
        ...

    def rule(self, kind: str, index: int, entry: Any) -> int:
        """The line where rule number `index` of list `kind` starts."""
        ...

    def sub(self, line: int, key: str) -> int:
        """The line of `key` inside the rule starting at `line` (else `line`)."""
        ...


def syntax_of(source: str) -> Syntax:
    """YAML for `.yaml`/`.yml` names, TOML otherwise."""
    return "yaml" if source.lower().endswith((".yaml", ".yml")) else "toml"


def parse(text: str, source: str, syntax: Syntax) -> tuple[dict[str, Any], Lines]:
    """The file's data and line finder; PolicyError with the line for a syntax error."""
    if syntax == "yaml":
        return _parse_yaml(text, source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        line = found.group(1) if found else "?"
        raise PolicyError(f"{source}:{line}: invalid TOML: {exc}") from None
    return data, TomlLines(text)


class TomlLines:
    """Finds keys and rules again in TOML text (`[[deny]]` tables or `deny = [...]` lists)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def key(self, key: str) -> int:
        pattern = re.compile(rf"\s*\"?{re.escape(key)}\"?\s*=")
        for number, text in enumerate(self.lines):
            if pattern.match(text):
                return number + 1
        return 1

    def sub(self, line: int, key: str) -> int:
        for number in range(line - 1, len(self.lines)):
            text = self.lines[number]
            if number >= line and text.lstrip().startswith("["):
                break
            if re.match(rf"\s*{re.escape(key)}\s*=", text) or f"{key} =" in text:
                return number + 1
        return line

    def rule(self, kind: str, index: int, entry: Any) -> int:
        header = re.compile(rf"\s*\[\[\s*{kind}\s*\]\]")
        headers = [n + 1 for n, text in enumerate(self.lines) if header.match(text)]
        if index < len(headers):
            return headers[index]
        start = self.key(kind)
        needle = entry.get("rule") if isinstance(entry, dict) else entry
        if isinstance(needle, str):
            for number in range(start - 1, len(self.lines)):
                if needle in self.lines[number] or repr(needle)[1:-1] in self.lines[number]:
                    return number + 1
        return start


def _parse_yaml(text: str, source: str) -> tuple[dict[str, Any], Lines]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{source}:{line}: invalid YAML: {problem}") from None
    if data is None:
        return {}, YamlLines(None, source)
    if not isinstance(data, dict):
        raise PolicyError(f"{source}:1: the policy must be a mapping of keys to values")
    return data, YamlLines(node, source)


class YamlLines:
    """Line numbers from PyYAML's node tree; duplicate keys (which PyYAML drops) are errors."""

    def __init__(self, root: Any, source: str) -> None:
        self.source = source
        self.top: dict[str, int] = {}
        self.items: dict[str, list[int]] = {}
        self.item_keys: dict[int, dict[str, int]] = {}
        if isinstance(root, yaml.MappingNode):
            self._walk(root)

    def _walk(self, root: yaml.MappingNode) -> None:
        self.top = self._keys(root)
        for key_node, value in root.value:
            if key_node.value in _KINDS and isinstance(value, yaml.SequenceNode):
                lines = [item.start_mark.line + 1 for item in value.value]
                self.items[key_node.value] = lines
                for line, item in zip(lines, value.value, strict=True):
                    if isinstance(item, yaml.MappingNode):
                        self.item_keys[line] = self._keys(item)

    def _keys(self, node: yaml.MappingNode) -> dict[str, int]:
        found: dict[str, int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if str(key_node.value) in found:
                raise PolicyError(f"{self.source}:{line}: duplicate key {key_node.value!r}")
            found[str(key_node.value)] = line
        return found

    def key(self, key: str) -> int:
        return self.top.get(key, 1)

    def rule(self, kind: str, index: int, entry: Any) -> int:
        lines = self.items.get(kind, [])
        return lines[index] if index < len(lines) else self.key(kind)

    def sub(self, line: int, key: str) -> int:
        return self.item_keys.get(line, {}).get(key, line)
