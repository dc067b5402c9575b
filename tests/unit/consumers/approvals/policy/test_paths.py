"""Lexical path normalization and path patterns (consumers.approvals.policy.paths)."""

from __future__ import annotations

import pytest

from consumers.approvals.policy.paths import compile_pattern, normalize


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("src/a.py", "/workspace/src/a.py"),
        ("./src//a.py", "/workspace/src/a.py"),
        ("src/../../etc/passwd", "/etc/passwd"),
        ("/../../etc", "/etc"),
        ("~/.ssh/id_rsa", "/root/.ssh/id_rsa"),
        ("/workspace/./x/.", "/workspace/x"),
    ],
)
def test_normalize_resolves_dots_and_slashes(path: str, expected: str) -> None:
    """`.`, `..` and repeated slashes resolve on the text, relative to the working directory."""
    assert expected == normalize(path, "/workspace", "/root")


@pytest.mark.parametrize(
    ("spec", "path", "expected"),
    [
        ("./src/**", "/workspace/src/a/b.py", True),
        ("./src/**", "/workspace/srcx/a.py", False),
        ("src/*.py", "/workspace/src/a.py", True),
        ("src/*.py", "/workspace/src/a/b.py", False),
        ("/docs/**", "/workspace/docs/x.md", True),
        ("//etc/**", "/etc/passwd", True),
        ("~/.ssh/**", "/root/.ssh/id_rsa", True),
        ("*.env", "/workspace/a/b/env", False),
        (".env", "/workspace/a/b/.env", True),
        ("*.env", "/workspace/a/prod.env", True),
        ("./src", "/workspace/src/deep/file", True),
        ("src/**/test_*.py", "/workspace/src/test_a.py", True),
        ("src/**/test_*.py", "/workspace/src/x/y/test_a.py", True),
        ("src/[ab].py", "/workspace/src/c.py", False),
    ],
)
def test_pattern_matching(spec: str, path: str, expected: bool) -> None:
    """gitignore-like: anchors, `**` spans directories, `*` stays in one, dirs cover contents."""
    assert expected == compile_pattern(spec, "/workspace", "/root").matches(path)


def test_pattern_with_nul_is_rejected() -> None:
    """A NUL byte cannot be part of a path pattern."""
    with pytest.raises(ValueError, match="NUL"):
        compile_pattern("a\x00b")
