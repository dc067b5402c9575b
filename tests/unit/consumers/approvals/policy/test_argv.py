"""Canonical argv forms (consumers.approvals.policy.argv)."""

from __future__ import annotations

import pytest

from consumers.approvals.policy.argv import canonical


@pytest.mark.parametrize(
    "argv",
    [
        ["rm", "-rf", "x"],
        ["rm", "-fr", "x"],
        ["rm", "-r", "-f", "x"],
        ["rm", "--recursive", "--force", "x"],
        ["rm", "-R", "--force", "x"],
        ["rm", "x", "-rf"],
        ["rm", "--rec", "--forc", "x"],
    ],
)
def test_flag_spellings_give_one_flag_set(argv: list[str]) -> None:
    """Combined, reordered, long and upper-case synonyms of rm's flags are the same flags."""
    assert (frozenset({"-r", "-f"}), ("x",)) == (canonical(argv).flags, canonical(argv).operands)


def test_flags_inside_one_run_are_sorted_in_tokens() -> None:
    """`ls -la` and `ls -al` have the same token sequence."""
    assert canonical(["ls", "-la"]).tokens == canonical(["ls", "-al"]).tokens


def test_flags_do_not_move_across_operands_in_tokens() -> None:
    """Token order keeps operands where they were."""
    assert ("git", "push", "-f", "origin") == canonical(["git", "push", "--force", "origin"]).tokens


def test_everything_after_double_dash_is_an_operand() -> None:
    """`rm -- -rf` removes a file called -rf."""
    assert (frozenset(), ("-rf",)) == (
        canonical(["rm", "--", "-rf"]).flags,
        canonical(["rm", "--", "-rf"]).operands,
    )


@pytest.mark.parametrize(
    ("operand", "expected"),
    [
        ("//", "/"),
        ("/./", "/"),
        ("./build/", "build"),
        ("a//b/../c", "a/c"),
        ("~/", "~"),
        ("../x", "../x"),
    ],
)
def test_path_operands_are_normalized(operand: str, expected: str) -> None:
    """Operands that look like paths are normalized lexically."""
    assert (expected,) == canonical(["rm", operand]).operands


def test_urls_are_not_treated_as_paths() -> None:
    """A URL keeps its double slash."""
    assert ("https://x.sh/a",) == canonical(["curl", "https://x.sh/a"]).operands


def test_negative_numbers_are_operands() -> None:
    """`kill -9` is a flag but `seq -5` counts from a number."""
    assert ("-5",) == canonical(["seq", "-5"]).operands
