"""Shell commands broken into the simple commands that will actually run.

`bashlex` (a port of bash's own grammar) parses the text; we walk the tree and collect every
simple command, including the ones inside pipelines, lists, subshells, `$( )`, backticks, process
substitution, loops and function bodies. Wrappers that run another command are unwrapped
recursively (`bash -c`, `sh -c`, `eval`, `timeout`, `nohup`, `env`, `nice`, `xargs`, `sudo`,
`su -c`, `command`, `exec`, `busybox`, `watch`, `find -exec`), leading `VAR=value` assignments
are dropped, and redirections to files are reported so the engine can judge them as reads and
writes.
"""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import bashlex

MAX_COMMAND_CHARS = 64 * 1024
MAX_PARTS = 512
MAX_DEPTH = 16
PARSE_CACHE_SIZE = 4096  # parsed command lines kept (`parse`)

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "fish"})
# wrapper -> options that take a value; the wrapper runs the rest of its argv as a command.
WRAPPERS: dict[str, frozenset[str]] = {
    "timeout": frozenset({"-s", "--signal", "-k", "--kill-after"}),
    "nohup": frozenset(),
    "nice": frozenset({"-n", "--adjustment"}),
    "ionice": frozenset({"-c", "-n", "-p", "--class", "--classdata"}),
    "time": frozenset({"-f", "--format", "-o", "--output"}),
    "env": frozenset({"-u", "--unset", "-C", "--chdir"}),
    "command": frozenset(),
    "exec": frozenset({"-a"}),
    "xargs": frozenset(
        {"-I", "-n", "-P", "-L", "-d", "-E", "-s", "-a", "--max-args", "--max-procs"}
        | {"--delimiter", "--arg-file", "--replace", "--max-lines", "--eof", "--max-chars"}
    ),
    "stdbuf": frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}),
    "busybox": frozenset(),
    "watch": frozenset({"-n", "--interval", "-q", "--equexit"}),
}
# Wrappers that change who runs the command: unwrapped for deny rules, but need their own allow.
PRIVILEGED = {
    "sudo": frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-U", "-r", "-t", "-T"})
    | frozenset({"--user", "--group", "--close-from", "--chdir", "--host", "--prompt"}),
    "doas": frozenset({"-u", "-C"}),
}
# su runs `-c SCRIPT` as another user (and a login shell otherwise).
SU_SCRIPT_OPTIONS = frozenset({"-c", "--command"})
# Setting these changes which code a later command runs, so such a line cannot be allowed by rules.
RISKY_VARIABLES = frozenset(
    {"PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "BASH_ENV", "ENV", "IFS", "CDPATH"}
    | {"PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "NODE_OPTIONS", "NODE_PATH", "PERL5LIB"}
    | {"PERL5OPT", "RUBYOPT", "RUBYLIB", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "PROMPT_COMMAND"}
)
DECLARATIONS = frozenset({"export", "declare", "typeset", "local", "readonly"})
WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})
HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/stdin"})
_TIME_KEYWORD = re.compile(r"(^|[;&|(!{]\s*|\b(?:do|then|else)\s+)time(?:\s+-p)?(?=\s)")
_NAME_EXPANSION = re.compile(r"[*?\[]|\{.*(,|\.\.).*\}")
_DYNAMIC_KINDS = frozenset({"parameter", "commandsubstitution", "processsubstitution"})


class ShellParseError(Exception):
    """The command cannot be parsed (or is too big or too deep to parse safely)."""

    retriable = False


@dataclass(frozen=True)
class SimpleCommand:
    """One command that will run. `wrapper` parts only need to pass deny and ask rules."""

    argv: tuple[str, ...]
    dynamic_name: bool = False  # the name is computed at run time ($X, $(...)) or read from stdin
    wrapper: bool = False


@dataclass(frozen=True)
class Redirect:
    """A file a redirection reads (`<`) or writes (`>`, `>>`, `&>`, ...)."""

    mode: str  # "read" or "write"
    target: str
    dynamic: bool = False


@dataclass
class ParsedCommand:
    """Everything a command line will run, read and write."""

    commands: list[SimpleCommand] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)  # the text and every unwrapped inner script
    # Why parts of the line cannot be judged from its text (PATH=..., a here-document's $( )).
    unjudgeable: list[str] = field(default_factory=list)


def parse(command: str) -> ParsedCommand:
    """Parse `command`; raises ShellParseError when it cannot be judged safely.

    Parsing is the costly part of a decision (~0.3 ms for a simple command with bashlex) and
    agents repeat the same commands, so results are cached (`PARSE_CACHE_SIZE` lines, least
    recently used first out); each call gets its own copy. Failures are not cached.
    """
    cached = _parse_cached(command)
    # The parts are frozen; fresh lists keep a caller's changes out of the cache.
    return ParsedCommand(
        commands=list(cached.commands),
        redirects=list(cached.redirects),
        scripts=list(cached.scripts),
        unjudgeable=list(cached.unjudgeable),
    )


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse_cached(command: str) -> ParsedCommand:
    """Parse `command` once; callers get copies (`parse`). An exception is never cached."""
    parsed = ParsedCommand()
    _parse_script(command, parsed, 0)
    return parsed


def _parse_script(script: str, out: ParsedCommand, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ShellParseError("commands are nested too deeply")
    if len(script) > MAX_COMMAND_CHARS:
        raise ShellParseError("command is too long to parse")
    if "\x00" in script:
        raise ShellParseError("command contains a NUL byte")
    out.scripts.append(script)
    if not script.strip():
        return
    for tree in _trees(script):
        _walk(tree, out, depth)


def _trees(script: str) -> list[Any]:
    try:
        return list(bashlex.parse(script))
    except Exception as exc:  # noqa: BLE001 - bashlex raises many types; all mean "cannot judge"
        failure = exc
    if "time" in str(failure):
        # bashlex does not implement bash's `time` keyword; `command time` means the same here
        # (the `time` wrapper is unwrapped below), so parse that spelling instead.
        try:
            return list(bashlex.parse(_TIME_KEYWORD.sub(r"\1command time ", script)))
        except Exception:  # noqa: BLE001, S110 - fall through to the original failure
            pass
    raise ShellParseError(f"bashlex cannot parse it ({type(failure).__name__})")


def _walk(node: Any, out: ParsedCommand, depth: int) -> None:
    kind = node.kind
    if kind == "command":
        _command(node, out, depth)
    elif kind in ("commandsubstitution", "processsubstitution"):
        _walk(node.command, out, depth)
    elif kind == "redirect":
        _redirect(node, out, depth)
    else:
        for child in list(getattr(node, "parts", None) or []) + list(
            getattr(node, "list", None) or []
        ):
            _walk(child, out, depth)


def _command(node: Any, out: ParsedCommand, depth: int) -> None:
    argv: list[str] = []
    dynamic: list[bool] = []
    for part in node.parts:
        if part.kind == "word":
            argv.append(part.word)
            dynamic.append(_is_dynamic(part))
            _walk_word(part, out, depth)
        elif part.kind == "assignment":
            _note_assignment(part.word, out)
            _walk_word(part, out, depth)  # `X=$(rm -rf x) ls` still runs the substitution
        else:
            _walk(part, out, depth)
    if argv:
        _expand(tuple(argv), dynamic[0] or _expands_at_run_time(argv[0]), out, depth)


def _note_assignment(word: str, out: ParsedCommand) -> None:
    name = word.split("=", 1)[0].rstrip("+")
    if name in RISKY_VARIABLES:
        out.unjudgeable.append(f"it sets {name}, which changes what later commands run")


def _expands_at_run_time(name: str) -> bool:
    """A command name with glob characters or braces becomes some other word when it runs."""
    return bool(_NAME_EXPANSION.search(name))


def _walk_word(word: Any, out: ParsedCommand, depth: int) -> None:
    for part in getattr(word, "parts", None) or []:
        _walk(part, out, depth)


def _is_dynamic(word: Any) -> bool:
    stack = list(getattr(word, "parts", None) or [])
    while stack:
        part = stack.pop()
        if part.kind in _DYNAMIC_KINDS:
            return True
        stack.extend(getattr(part, "parts", None) or [])
    return False


def _redirect(node: Any, out: ParsedCommand, depth: int) -> None:
    heredoc = getattr(node, "heredoc", None)
    if heredoc is not None and ("$(" in heredoc.value or "`" in heredoc.value):
        out.unjudgeable.append("a here-document runs command substitutions")
    target = node.output
    if isinstance(target, int) or not hasattr(target, "word"):
        return  # fd duplication such as 2>&1
    _walk_word(target, out, depth)
    if node.type in WRITE_REDIRECTS:
        mode = "write"
    elif node.type == "<":
        mode = "read"
    else:
        return  # here-documents and here-strings read no file
    if target.word not in HARMLESS_TARGETS:
        out.redirects.append(Redirect(mode, target.word, _is_dynamic(target)))


def _expand(argv: tuple[str, ...], dynamic_name: bool, out: ParsedCommand, depth: int) -> None:
    """Record `argv` and whatever it runs in turn."""
    if len(out.commands) >= MAX_PARTS:
        raise ShellParseError("command has too many parts")
    name = argv[0].rsplit("/", 1)[-1]
    if dynamic_name:
        out.commands.append(SimpleCommand(argv, dynamic_name=True))
    elif name in SHELLS:
        _shell(argv, out, depth)
    elif name == "eval":
        out.commands.append(SimpleCommand(argv, wrapper=True))
        _parse_script(" ".join(argv[1:]), out, depth + 1)
    elif name == "su":
        _su(argv, out, depth)
    elif name in WRAPPERS or name in PRIVILEGED:
        _wrapper(argv, name, out, depth)
    else:
        out.commands.append(SimpleCommand(argv))
        if name in DECLARATIONS:
            for arg in argv[1:]:
                _note_assignment(arg, out)
        if name == "find":
            _find_exec(argv, out, depth)


def _shell(argv: tuple[str, ...], out: ParsedCommand, depth: int) -> None:
    """`bash -c SCRIPT` runs SCRIPT; `bash` alone (e.g. after a pipe) runs whatever stdin holds."""
    script_at = _dash_c_script(argv)
    if script_at is not None:
        out.commands.append(SimpleCommand(argv[:script_at], wrapper=True))
        _parse_script(argv[script_at], out, depth + 1)
        return
    has_operand = any(not arg.startswith("-") for arg in argv[1:])
    out.commands.append(SimpleCommand(argv, dynamic_name=not has_operand))


def _su(argv: tuple[str, ...], out: ParsedCommand, depth: int) -> None:
    out.commands.append(SimpleCommand(argv))  # su itself needs an allow rule
    for index, arg in enumerate(argv[1:], start=1):
        if arg in SU_SCRIPT_OPTIONS and index + 1 < len(argv):
            _parse_script(argv[index + 1], out, depth + 1)
        elif arg.startswith("--command="):
            _parse_script(arg.split("=", 1)[1], out, depth + 1)


def _dash_c_script(argv: tuple[str, ...]) -> int | None:
    for index, arg in enumerate(argv[1:], start=1):
        if arg == "--" or not arg.startswith("-"):
            return None
        if not arg.startswith("--") and "c" in arg[1:]:
            return index + 1 if index + 1 < len(argv) else None
    return None


def _wrapper(argv: tuple[str, ...], name: str, out: ParsedCommand, depth: int) -> None:
    privileged = name in PRIVILEGED
    value_options = PRIVILEGED[name] if privileged else WRAPPERS[name]
    start = _skip_options(argv, value_options)
    if name == "env":
        while start < len(argv) and "=" in argv[start]:
            _note_assignment(argv[start], out)
            start += 1
        split = _env_split_string(argv)
        if split is not None:
            out.commands.append(SimpleCommand(argv, wrapper=True))
            _parse_script(split, out, depth + 1)
            return
    if name == "timeout" and start < len(argv):
        start += 1  # the duration
    inner = argv[start:]
    if not inner:
        out.commands.append(SimpleCommand(argv))  # `env`, `nohup`: the wrapper runs alone
        return
    out.commands.append(SimpleCommand(argv[:start], wrapper=not privileged))
    _expand(inner, False, out, depth + 1)


def _skip_options(argv: tuple[str, ...], value_options: frozenset[str]) -> int:
    index = 1
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            return index + 1
        if not arg.startswith("-") or arg == "-":
            return index
        index += 2 if arg in value_options else 1
    return index


def _env_split_string(argv: tuple[str, ...]) -> str | None:
    for index, arg in enumerate(argv):
        if arg in ("-S", "--split-string") and index + 1 < len(argv):
            return " ".join(argv[index + 1 :])
        if arg.startswith("--split-string="):
            return arg.split("=", 1)[1] + " " + " ".join(argv[index + 1 :])
    return None


def _find_exec(argv: tuple[str, ...], out: ParsedCommand, depth: int) -> None:
    """`find ... -exec CMD ... ;` runs CMD once per file."""
    index = 0
    while index < len(argv):
        if argv[index] in ("-exec", "-execdir", "-ok", "-okdir"):
            end = index + 1
            while end < len(argv) and argv[end] not in (";", "+"):
                end += 1
            inner = tuple(arg for arg in argv[index + 1 : end] if arg != "{}")
            if inner:
                _expand(inner, False, out, depth + 1)
            index = end
        index += 1


def split_words(text: str) -> list[str]:
    """Split a rule's command text the way the shell would split a plain command."""
    return shlex.split(text)
