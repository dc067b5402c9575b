"""`streamer archive compact | vacuum | forget` on a table written from real sessions."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from deltalake import DeltaTable

from consumers.archive.query import run_query
from streamer.cli import main
from tests.support.archive import Archived

pytestmark = pytest.mark.kafka


def rows(uri: str) -> list[tuple[str, str, str]]:
    """Every row's (session, event id, raw), sorted."""
    return sorted(DeltaTable(uri).to_pyarrow_table(columns=["session_id", "event_id", "raw"])
                  .to_pylist(), key=lambda r: r["event_id"])  # type: ignore[no-any-return]  # fmt: skip


def parquet_files(uri: str) -> set[Path]:
    return {p for p in Path(uri).rglob("*.parquet") if "_forgotten" not in p.parts}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert 0 == main(["archive", *argv])
    value: dict[str, object] = orjson.loads(capsys.readouterr().out)
    return value


def test_compact_then_vacuum_keep_every_row(
    own_copy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Compact merges the small files, vacuum deletes the replaced ones; the rows stay the same."""
    before, files_before = rows(own_copy), parquet_files(own_copy)
    compacted = cli(capsys, "compact", "--uri", own_copy)
    after_compact, live = rows(own_copy), set(DeltaTable(own_copy).file_uris())
    vacuumed = cli(capsys, "vacuum", "--uri", own_copy, "--retain-hours", "0", "--force")

    assert (before, before) == (after_compact, rows(own_copy))
    assert len(files_before) > len(live) == len(parquet_files(own_copy))
    assert compacted["numFilesRemoved"] == len(files_before)
    assert vacuumed["files_deleted"] == len(files_before)


def test_vacuum_below_retention_needs_force(
    own_copy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --force a retention below the table's is refused, and nothing is deleted."""
    files = parquet_files(own_copy)
    code = main(["archive", "vacuum", "--uri", own_copy, "--retain-hours", "0"])

    assert (2, files) == (code, parquet_files(own_copy))
    assert "--force" in capsys.readouterr().err


def test_forget_removes_exactly_that_session(
    archived: Archived, own_copy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Forget deletes one session's events, keeps everyone else's, and records that it did."""
    gone = archived.hostile_session
    before = rows(own_copy)
    record = cli(capsys, "forget", gone, "--uri", own_copy, "--by", "alice", "--reason", "req 1")
    history = DeltaTable(own_copy).history(1)[0]
    forgotten = run_query(own_copy, "SELECT session_id, events_deleted, forgotten_by, reason, "
                          "table_version FROM forgotten")  # fmt: skip

    kept = [r for r in before if r["session_id"] != gone]
    assert kept == rows(own_copy)
    assert len(before) - len(kept) == record["events_deleted"] > 0
    assert [
        (gone, record["events_deleted"], "alice", "req 1", history["version"])
    ] == forgotten.rows
    assert ("forget", gone) == (history["agents_streamer.operation"], history["session_id"])


def test_forget_refuses_what_is_not_a_session_id(own_copy: str) -> None:
    """Anything but an id is refused before it reaches a predicate (no SQL injection)."""
    before = rows(own_copy)
    code = main(["archive", "forget", "x' OR '1'='1", "--uri", own_copy])

    assert (2, before) == (code, rows(own_copy))


def test_forgetting_an_unknown_session_is_recorded(
    own_copy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A request for a session the archive never held deletes nothing and is still recorded."""
    before, version = rows(own_copy), DeltaTable(own_copy).version()
    record = cli(capsys, "forget", "sesn_never_seen", "--uri", own_copy, "--reason", "req 2")
    forgotten = run_query(own_copy, "SELECT session_id, events_deleted, table_version, reason "
                          "FROM forgotten")  # fmt: skip

    assert (before, version) == (rows(own_copy), DeltaTable(own_copy).version())
    assert [("sesn_never_seen", 0, version, "req 2")] == forgotten.rows
    assert 0 == record["events_deleted"]
