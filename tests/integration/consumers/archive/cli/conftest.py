"""One archive table per test package, written from real simulator sessions (tests.support)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.support.archive import Archived, build_archive


@pytest.fixture(scope="package")
def archived(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Archived:
    """Simulator sessions → streamer → Kafka → the archive table (shared: copy before changing)."""
    return asyncio.run(build_archive(kafka_bootstrap, tmp_path_factory.mktemp("archive")))


@pytest.fixture
def own_copy(archived: Archived, tmp_path: Path) -> str:
    """A copy of the shared table this test may change; its URI."""
    target = tmp_path / "archive"
    shutil.copytree(archived.uri, target)
    return str(target)
