"""A tool call broken into the parts rules are matched against; bad input is refused here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from consumers.approvals.policy import shell
from consumers.approvals.policy.argv import canonical
from consumers.approvals.policy.model import ToolCall
from consumers.approvals.policy.paths import normalize
from consumers.approvals.policy.rules import Part, Settings

MAX_INPUT_CHARS = 1024 * 1024  # all strings of one input together
MAX_NESTING = 32
_PATH_FIELDS = {"read": "file_path", "write": "file_path", "edit": "file_path"}
_GLOB_CHARS = frozenset("*?[")
_CHDIR = frozenset({"cd", "pushd", "popd"})


class BadInputError(Exception):
    """The tool input cannot be judged; `problem` is a label from a fixed vocabulary."""

    retriable = False

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def parts_of(call: ToolCall, settings: Settings) -> list[Part]:
    """The parts of `call`; raises BadInputError for wrong-shaped, huge or binary input."""
    if not isinstance(call.input, Mapping):
        raise BadInputError("wrong_shape", "the tool input is not a JSON object")
    _check_size(call.input)
    if call.tool == "bash":
        return _bash(_string(call.input, "command", required=True), settings)
    if call.tool in _PATH_FIELDS:
        target = _string(call.input, _PATH_FIELDS[call.tool], required=True)
        return [Part(call.tool, call.input, path=_path(target, settings))]
    if call.tool in ("glob", "grep"):
        return [Part(call.tool, call.input, path=_search_root(call, settings))]
    if call.tool == "web_fetch":
        url = _string(call.input, "url", required=True)
        return [Part(call.tool, call.input, host=_host(url), opaque=_ambiguous_host(url))]
    return [Part(call.tool, call.input)]


_SCALARS = frozenset({int, float, bool, type(None)})


def _check_size(value: Any) -> None:
    budget = MAX_INPUT_CHARS
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            raise BadInputError("wrong_shape", "the tool input is nested too deeply")
        kind = type(item)  # exact JSON types first: `isinstance` of an ABC costs far more
        if kind is str:
            budget -= len(item)
        elif kind in _SCALARS:
            pass
        elif isinstance(item, bytes | bytearray | memoryview):
            raise BadInputError("binary", "the tool input contains binary data")
        elif isinstance(item, str):
            budget -= len(item)
        elif isinstance(item, Mapping):
            budget -= len(item)
            stack.extend((key, depth + 1) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            budget -= len(item)
            stack.extend((child, depth + 1) for child in item)
        if budget < 0:
            raise BadInputError("too_large", "the tool input is too large to judge")


def _string(data: Mapping[str, Any], key: str, *, required: bool) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadInputError("wrong_shape", f"the tool input's {key!r} is not a string")
    if "\x00" in value:
        raise BadInputError("binary", f"the tool input's {key!r} contains a NUL byte")
    return value


def _path(target: str, settings: Settings) -> str:
    if not target:
        raise BadInputError("wrong_shape", "the tool input's path is empty")
    return normalize(target, settings.root, settings.home)


def _search_root(call: ToolCall, settings: Settings) -> str:
    """Where glob/grep look: `path`, reaching further when the glob pattern climbs with `..`."""
    base = _string(call.input, "path", required=False) or settings.root
    if call.tool == "glob":
        pattern = _string(call.input, "pattern", required=False)
        static: list[str] = []
        for segment in pattern.split("/"):
            if _GLOB_CHARS & set(segment):
                break
            static.append(segment)
        if pattern.startswith("/") or ".." in static:
            joined = "/".join(static) if pattern.startswith("/") else base + "/" + "/".join(static)
            return normalize(joined or "/", settings.root, settings.home)
    return normalize(base, settings.root, settings.home)


def _ambiguous_host(url: str) -> str | None:
    """Why URL parsers may disagree on the host (userinfo, backslashes), or None."""
    authority = url.strip().partition("//")[2]
    for stop in "/?#":
        authority = authority.split(stop, 1)[0]
    if "@" in authority or "\\" in authority or any(ord(char) < 33 for char in authority):
        return "the URL's host is ambiguous (userinfo, backslash or control characters)"
    return None


def _host(url: str) -> str | None:
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


def _command_part(simple: shell.SimpleCommand) -> Part:
    dynamic = "the command name is only known when it runs" if simple.dynamic_name else None
    return Part(
        "bash",
        {"command": " ".join(simple.argv)},
        role="wrapper" if simple.wrapper else "run",
        command=canonical(simple.argv),
        opaque=dynamic,
    )


def _bash(command: str, settings: Settings) -> list[Part]:
    if len(command) > shell.MAX_COMMAND_CHARS:
        raise BadInputError("too_large", "the shell command is too long to judge")
    try:
        parsed = shell.parse(command)
    except shell.ShellParseError as exc:
        raise BadInputError(
            "unparsable_command", f"cannot parse the shell command: {exc}"
        ) from None
    parts = [Part("bash", {"command": script}, role="script") for script in parsed.scripts]
    parts.extend(_command_part(simple) for simple in parsed.commands)
    parts.extend(Part("bash", {"command": command}, opaque=why) for why in parsed.unjudgeable)
    moves = any(part.command is not None and part.command.base in _CHDIR for part in parts)
    for redirect in parsed.redirects:
        opaque = "a redirection target is only known when it runs" if redirect.dynamic else None
        if moves and not redirect.target.startswith(("/", "~")):
            opaque = "the working directory changes before this redirection"
        parts.append(
            Part(
                redirect.mode,
                {"file_path": redirect.target},
                path=normalize(redirect.target, settings.root, settings.home),
                opaque=opaque,
            )
        )
    return parts
