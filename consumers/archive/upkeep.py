"""`streamer archive compact | vacuum | forget`: keeping the table small, and deletion requests.

- compact: Delta `optimize` (bin-packing small files into large ones, per `date` partition). It
  rewrites data only: every row stays, the consumer's offsets (application transactions) too.
- vacuum: deletes files no version younger than `retain_hours` references (what compact and
  forget left behind). Below the table's retention (7 days unless configured) it needs `force`,
  since a reader still on an older version would lose its files.
- forget: deletes one session's events in one commit whose metadata says so, then appends a row
  to the `forgotten` record (a small Delta table at `<uri>/_forgotten`, docs/ARCHIVE.md). The rows
  are gone from the current version at once, and from storage after the next vacuum past them.
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from consumers.archive.location import (
    ArchiveCommandError,
    forgotten_uri,
    open_table,
    storage_options,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable

log = structlog.get_logger(__name__)

# Session ids are the API's (`sesn_…`); anything else is refused rather than quoted into SQL.
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_COMMIT_ATTEMPTS = 5  # a consumer appending at the same time can make a commit conflict
OPERATION_KEY = "agents_streamer.operation"


def compact(uri: str, *, target_size_mb: int | None = None) -> dict[str, Any]:
    """Optimize the table (small files into large); returns delta-rs' metrics."""
    table = open_table(uri)
    target = target_size_mb * 1024 * 1024 if target_size_mb else None
    metrics = _retrying(lambda t: t.optimize.compact(target_size=target), table)
    log.info("archive_compacted", uri=_safe(uri), files_added=metrics.get("numFilesAdded"),
             files_removed=metrics.get("numFilesRemoved"))  # fmt: skip
    return metrics


def vacuum(uri: str, *, retain_hours: int, force: bool = False, dry_run: bool = False) -> list[str]:
    """Delete unreferenced files older than `retain_hours`; returns the files (to be) deleted."""
    table = open_table(uri)
    try:
        files = table.vacuum(
            retention_hours=retain_hours, dry_run=dry_run, enforce_retention_duration=not force
        )
    except Exception as exc:
        if "retention" in str(exc).lower() and not force:
            raise ArchiveCommandError(
                f"--retain-hours {retain_hours} is below the table's retention; "
                "add --force if no reader needs older versions"
            ) from None
        raise
    log.info("archive_vacuumed", uri=_safe(uri), files=len(files), dry_run=dry_run,
             retain_hours=retain_hours)  # fmt: skip
    return files


def forget(uri: str, session_id: str, *, by: str = "", reason: str = "") -> dict[str, Any]:
    """Delete every event of `session_id` and record that it was done; returns the record."""
    if not _SESSION_ID.match(session_id):
        raise ArchiveCommandError(f"not a session id: {session_id!r}")
    by = by or os.environ.get("USER", "")
    metadata = {OPERATION_KEY: "forget", "session_id": session_id, "forgotten_by": by}
    table = open_table(uri)
    metrics = _retrying(lambda t: _delete(t, session_id, metadata), table)
    record = {
        "session_id": session_id,
        "forgotten_at": datetime.now(UTC),
        "events_deleted": int(metrics.get("num_deleted_rows") or 0),
        "table_version": table.version(),
        "forgotten_by": by,
        "reason": reason,
    }
    _append_forgotten(uri, record)
    log.info("archive_session_forgotten", session_id=session_id,
             events_deleted=record["events_deleted"], table_version=record["table_version"],
             forgotten_by=by)  # fmt: skip
    return record


def _delete(table: DeltaTable, session_id: str, metadata: dict[str, str]) -> dict[str, Any]:
    from deltalake import CommitProperties  # noqa: PLC0415

    return table.delete(
        predicate=f"session_id = '{session_id}'",
        commit_properties=CommitProperties(custom_metadata=metadata),
    )


def forgotten_schema() -> pa.Schema:
    """The columns of the `forgotten` record (docs/ARCHIVE.md)."""
    import pyarrow as pa  # noqa: PLC0415

    return pa.schema(
        [
            pa.field("session_id", pa.string(), nullable=False),
            pa.field("forgotten_at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("events_deleted", pa.int64(), nullable=False),
            pa.field("table_version", pa.int64(), nullable=False),
            pa.field("forgotten_by", pa.string()),
            pa.field("reason", pa.string()),
        ]
    )


def _append_forgotten(uri: str, record: dict[str, Any]) -> None:
    import pyarrow as pa  # noqa: PLC0415
    from deltalake import write_deltalake  # noqa: PLC0415

    schema = forgotten_schema()
    rows = pa.Table.from_pylist([record], schema=schema)
    target = forgotten_uri(uri)
    for attempt in range(_COMMIT_ATTEMPTS):
        try:
            write_deltalake(target, rows, mode="append", storage_options=storage_options(uri))
        except Exception as exc:
            if attempt + 1 == _COMMIT_ATTEMPTS or not _is_conflict(exc):
                raise
            time.sleep(0.2 * 2**attempt)
        else:
            return


def _retrying(operation: Any, table: DeltaTable) -> dict[str, Any]:
    """Run a committing operation; on a commit conflict (a concurrent writer) reload and retry."""
    for attempt in range(_COMMIT_ATTEMPTS):
        try:
            result: dict[str, Any] = operation(table)
        except Exception as exc:
            if attempt + 1 == _COMMIT_ATTEMPTS or not _is_conflict(exc):
                raise
            log.warning("archive_commit_conflict", attempt=attempt + 1)
            time.sleep(0.2 * 2**attempt)
            table.update_incremental()
        else:
            return result
    raise AssertionError("unreachable")


def _is_conflict(exc: Exception) -> bool:
    from deltalake.exceptions import CommitFailedError  # noqa: PLC0415

    return isinstance(exc, CommitFailedError)


def _safe(uri: str) -> str:
    """A URI fit for a log line (no credentials embedded in it)."""
    return re.sub(r"//[^/@]*@", "//", uri)
