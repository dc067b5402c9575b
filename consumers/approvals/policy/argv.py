"""Canonical forms of a command's words, so flag spelling and order cannot dodge a rule.

Every argv (the command's and the rule's alike) goes through the same steps:
1. combined short flags are split: `-rf` -> `-r -f` (a lone `-` and negative numbers stay);
2. known synonyms of the command are mapped to one spelling: for `rm`, `-R` and `--recursive`
   become `-r`, `--force` becomes `-f` (table below), also when abbreviated (`--rec`);
3. operands that look like paths are normalized lexically: `./build/` -> `build`, `//` -> `/`;
4. everything after `--` is an operand.

Deny and ask rules then compare flags as a set (order, position and repetition do not matter) and
operands as a sequence; allow rules compare the canonical token sequence, where only flags inside
one run of flags may be reordered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from consumers.approvals.policy.paths import normalize

_RECURSIVE_FORCE = {"-R": "-r", "--recursive": "-r", "--force": "-f"}
FLAG_ALIASES: dict[str, dict[str, str]] = {
    "rm": {**_RECURSIVE_FORCE, "--dir": "-d", "--verbose": "-v", "--interactive": "-i"},
    "cp": {**_RECURSIVE_FORCE, "--archive": "-a"},
    "mv": {"--force": "-f"},
    "ln": {"--force": "-f", "--symbolic": "-s"},
    "chmod": {"--recursive": "-R"},
    "chown": {"--recursive": "-R"},
    "chgrp": {"--recursive": "-R"},
    "git": {"--force": "-f", "--all": "-a", "--delete": "-d"},
    "npm": {"--global": "-g", "--force": "-f"},
    "sed": {"--in-place": "-i"},
    "curl": {"--output": "-o", "--location": "-L", "--insecure": "-k"},
    "kill": {"--signal": "-s"},
}
_NUMBER = re.compile(r"-\d+(\.\d+)?")


@dataclass(frozen=True)
class Argv:
    """One command in canonical form."""

    name: str  # the command name as written (`/usr/bin/rm` stays a path)
    base: str  # its last path component (`rm`)
    flags: frozenset[str]
    operands: tuple[str, ...]
    tokens: tuple[str, ...]  # the canonical sequence (name first)

    @property
    def text(self) -> str:
        """The canonical tokens joined by single spaces (what globs are matched against)."""
        return " ".join(self.tokens)


def canonical(argv: tuple[str, ...] | list[str]) -> Argv:
    """The canonical form of `argv` (see the module docstring)."""
    name = argv[0]
    base = name.rsplit("/", 1)[-1]
    aliases = FLAG_ALIASES.get(base, {})
    flags: set[str] = set()
    operands: list[str] = []
    tokens: list[str] = [name]
    run: list[str] = []
    after_dashes = False
    for arg in argv[1:]:
        if after_dashes or not _is_flag(arg):
            tokens.extend(sorted(run))
            run = []
            operand = _operand(arg)
            operands.append(operand)
            tokens.append(operand)
            continue
        if arg == "--":
            after_dashes = True
            tokens.extend([*sorted(run), "--"])
            run = []
            continue
        for flag in _split_flag(arg):
            canonical_flag = _alias(aliases, flag)
            flags.add(canonical_flag)
            run.append(canonical_flag)
    tokens.extend(sorted(run))
    return Argv(name, base, frozenset(flags), tuple(operands), tuple(tokens))


def _is_flag(arg: str) -> bool:
    return arg.startswith("-") and arg != "-" and not _NUMBER.fullmatch(arg)


def _split_flag(arg: str) -> list[str]:
    if arg.startswith("--") or len(arg) <= 2:
        return [arg]
    return ["-" + letter for letter in arg[1:]]


def _alias(aliases: dict[str, str], flag: str) -> str:
    key, equals, value = flag.partition("=") if flag.startswith("--") else (flag, "", "")
    canonical_key = aliases.get(key)
    if canonical_key is None and key.startswith("--") and len(key) > 3:
        # GNU getopt accepts unambiguous abbreviations: `rm --rec --force` is `rm -r -f`.
        found = {target for name, target in aliases.items() if name.startswith(key)}
        canonical_key = found.pop() if len(found) == 1 else None
    return (canonical_key or key) + equals + value


def _operand(arg: str) -> str:
    if arg == "~" or arg.startswith("~/"):
        rest = _operand("." + arg[1:])
        return "~" if rest == "." else "~/" + rest
    if "://" in arg or ("/" not in arg and arg not in (".", "..")):
        return arg
    if arg.startswith("/"):
        return normalize(arg, "/")
    cleaned = normalize(arg, "/__cwd__")
    if cleaned == "/__cwd__":
        return "."
    if cleaned.startswith("/__cwd__/"):
        return cleaned[len("/__cwd__/") :]
    return arg  # climbs above the working directory: keep it as written
