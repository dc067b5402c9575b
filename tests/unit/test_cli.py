"""The `streamer` command's top level."""

from __future__ import annotations

import subprocess
import sys

import pytest

from streamer import __version__
from streamer.cli import main


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`streamer --version` prints the installed version and exits 0."""
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert (0, f"streamer {__version__}\n") == (exited.value.code, capsys.readouterr().out)


def test_console_script_help_lists_usage() -> None:
    """The installed console script answers `--help`."""
    result = subprocess.run(
        [sys.executable, "-m", "streamer", "--help"], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0
    assert result.stdout.startswith("usage: streamer")
