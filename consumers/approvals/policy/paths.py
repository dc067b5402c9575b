"""Lexical path normalization and gitignore-like path patterns.

Nothing here touches the filesystem: the paths belong to the agent's container, not to us, so
`..`, `.` and repeated slashes are resolved on the text alone and symlinks are not followed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_ROOT = "/workspace"
DEFAULT_HOME = "/root"


def normalize(path: str, cwd: str = DEFAULT_ROOT, home: str = DEFAULT_HOME) -> str:
    """The absolute, lexically normalized form of `path` as seen from `cwd`.

    `~` and `~/...` expand to `home`; `..` above `/` stays at `/` (as the kernel does).
    """
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    if not path.startswith("/"):
        path = cwd + "/" + path
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    return "/" + "/".join(parts)


def is_within(path: str, root: str) -> bool:
    """Whether the normalized absolute `path` is `root` or below it."""
    return root in ("/", path) or path.startswith(root + "/")


def relative_to(path: str, anchor: str) -> str | None:
    """`path` relative to `anchor` ("" for the anchor itself), or None when outside it."""
    if not is_within(path, anchor):
        return None
    if anchor == "/":
        return path[1:]
    return path[len(anchor) + 1 :]


@dataclass(frozen=True)
class PathPattern:
    """A compiled path specifier such as `./src/**`, `//etc/*`, `~/.ssh/**` or `*.env`.

    The pattern matches a path when it matches the path or one of its parent directories below
    the anchor (gitignore semantics: naming a directory covers what is inside it).
    """

    anchor: str  # absolute directory the pattern is relative to
    glob: str  # the pattern below the anchor, always anchored ("**/" added for bare names)
    regex: re.Pattern[str]

    def matches(self, path: str) -> bool:
        """Whether the normalized absolute `path` is covered by this pattern."""
        rel = relative_to(path, self.anchor)
        if rel is None:
            return False
        if self.regex.fullmatch(rel):
            return True
        segments = rel.split("/")
        return any(self.regex.fullmatch("/".join(segments[:n])) for n in range(1, len(segments)))

    def covers(self, other: PathPattern) -> bool:
        """Best effort: whether everything `other` matches is also matched by this pattern."""
        if self.anchor != other.anchor:
            return self.anchor == "/" and self.glob in ("", "**")
        return self.glob == other.glob or self.matches(_join(other.anchor, other.glob))


def _join(anchor: str, rel: str) -> str:
    return anchor.rstrip("/") + "/" + rel if rel else anchor


def compile_pattern(spec: str, root: str = DEFAULT_ROOT, home: str = DEFAULT_HOME) -> PathPattern:
    """Compile a Claude Code style path specifier.

    `//abs` is an absolute path, `~/x` is below `home`, `/x`, `./x` and `x/y` are below `root`,
    and a bare name without a slash (`*.env`) matches at any depth below `root`.
    Raises ValueError for a specifier that is empty or contains a NUL byte.
    """
    if not spec or "\x00" in spec:
        raise ValueError("path pattern must be a non-empty string without NUL bytes")
    anchor, rest = _split_anchor(spec, root, home)
    glob = _clean(rest)
    return PathPattern(anchor=anchor, glob=glob, regex=re.compile(_translate(glob)))


def _split_anchor(spec: str, root: str, home: str) -> tuple[str, str]:
    if spec.startswith("//"):
        return "/", spec[2:]
    if spec == "~" or spec.startswith("~/"):
        return home, spec[2:]
    if spec.startswith("/"):
        return root, spec[1:]
    if spec == "." or spec.startswith("./"):
        return root, spec[2:]
    if "/" not in spec.rstrip("/"):
        return root, "**/" + spec
    return root, spec


def _clean(rest: str) -> str:
    """Collapse `.`/empty segments; `..` in a pattern is resolved lexically like a path."""
    parts: list[str] = []
    for segment in rest.split("/"):
        if segment in ("", "."):
            continue
        if segment == ".." and parts:
            parts.pop()
            continue
        parts.append(segment)
    return "/".join(parts)


def _translate(glob: str) -> str:
    """gitignore-like glob to regex: `**` spans directories, `*` and `?` stay in one segment."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("(?:/.*)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            token, i = _translate_one(glob, i)
            out.append(token)
    return "".join(out)


def _translate_one(glob: str, i: int) -> tuple[str, int]:
    char = glob[i]
    if char == "*":
        return "[^/]*", i + 1
    if char == "?":
        return "[^/]", i + 1
    if char == "[":
        end = glob.find("]", i + 2)
        if end != -1:
            body = glob[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            return "[" + body.replace("\\", "\\\\") + "]", end + 1
    return re.escape(char), i + 1
