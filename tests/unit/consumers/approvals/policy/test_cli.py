"""`streamer policy check|eval` (consumers.approvals.policy.cli)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamer.cli import main


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    """A small valid policy with one dead rule."""
    path = tmp_path / "p.toml"
    path.write_text('deny = ["bash(rm -rf:*)"]\nallow = ["bash(rm -rf build)", "bash(ls)"]\n')
    return path


def test_check_reports_a_valid_file(policy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check` exits 0 on a valid file and prints its warnings on stderr."""
    code = main(["policy", "check", str(policy_file)])
    captured = capsys.readouterr()
    assert (0, True, True) == (
        code,
        captured.out.startswith(f"{policy_file}: valid, version "),
        "can never match: shadowed by deny rule 'bash(rm -rf:*)'" in captured.err,
    )


def test_check_can_fail_on_warnings(policy_file: Path) -> None:
    """`--fail-on-warnings` turns warnings into exit 1, for CI."""
    assert 1 == main(["policy", "check", "--fail-on-warnings", str(policy_file)])


def test_check_rejects_an_invalid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid file exits 1 with the error naming file and line."""
    path = tmp_path / "bad.toml"
    path.write_text('version = 1\ndeny = ["bash(rm"]\n')
    code = main(["policy", "check", str(path)])
    assert (1, f"error: {path}:2: deny rule 'bash(rm'") == (
        code,
        capsys.readouterr().err[: len(f"error: {path}:2: deny rule 'bash(rm'")],
    )


def test_eval_prints_the_decision(policy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`eval` prints the decision as JSON."""
    main(["policy", "eval", str(policy_file), "bash", '{"command": "timeout 1 rm -fr /"}'])
    decision = json.loads(capsys.readouterr().out)
    assert ("deny", "bash(rm -rf:*)") == (decision["action"], decision["rule"])


def test_eval_rejects_bad_json(policy_file: Path) -> None:
    """Input that is not JSON exits 1."""
    assert 1 == main(["policy", "eval", str(policy_file), "bash", "{nope"])
