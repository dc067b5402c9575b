"""The distribution installs without dev extras, as the Dockerfile's build stage does."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from streamer import __version__

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(*command: str | Path, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=600,
    )
    assert 0 == result.returncode, result.stderr[-2000:]
    return result.stdout


def _said(stderr: str) -> str:
    """ "source checkout" when the message names it, else the whole stderr (for the failure)."""
    return (
        "source checkout" if "source checkout" in stderr and "Traceback" not in stderr else stderr
    )


def test_wheel_ships_both_packages_and_installs_the_command(tmp_path: Path) -> None:
    """The wheel holds `streamer` and `consumers`, not the simulator; installed alone it runs
    `streamer --version`, and the dev-only commands say where they live (exit 2)."""
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ROOT)
    wheel = next((tmp_path / "dist").glob("agents_streamer-*.whl"))
    top_levels = {name.split("/", 1)[0] for name in zipfile.ZipFile(wheel).namelist()}
    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"

    _run(bin_dir / "pip", "install", "-q", "-c", ROOT / "constraints.txt", wheel)

    assert {"streamer", "consumers"} <= top_levels
    assert "simulator" not in top_levels  # dev tooling: not in the wheel or the production image
    assert f"streamer {__version__}\n" == _run(bin_dir / "streamer", "--version")
    assert "simulate" in _run(bin_dir / "streamer", "--help")
    for command in (["simulate", "--port", "8000"], ["demo"]):
        outside = subprocess.run(
            [str(bin_dir / "streamer"), *command],
            capture_output=True, text=True, check=False, cwd=tmp_path, timeout=60,
            env={"PATH": str(bin_dir)},
        )  # fmt: skip
        assert (2, "source checkout") == (outside.returncode, _said(outside.stderr)), outside
