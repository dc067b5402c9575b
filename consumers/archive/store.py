"""The Delta table itself: open or create it, read the offsets it holds, append with offsets.

Blocking (delta-rs does its own I/O): the consumer calls these in a worker thread. Each commit
carries one Delta application transaction (`txn`) per Kafka topic-partition it covers, with app
id `<topic>-<partition>` and version = the next offset to archive; `versions` reads them back.
An append whose partitions some other writer advanced meanwhile fails Delta's conflict check
(`CommitFailedError`), so the caller reloads, drops what the table holds, and tries again.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import (
    CommitFailedError,
    DeltaProtocolError,
    SchemaMismatchError,
    TableNotFoundError,
)

from consumers.archive.errors import ArchiveError
from consumers.archive.schema import ADDED_COLUMNS, PARTITION_COLUMNS, SCHEMA


def app_id(topic: str, partition: int) -> str:
    """The Delta application-transaction id of one Kafka topic-partition."""
    return f"{topic}-{partition}"


class ArchiveTable:
    """One Delta table at `uri`; created with `SCHEMA` (partitioned by `date`) when missing."""

    def __init__(self, uri: str, storage_options: dict[str, str]) -> None:
        self.uri = uri
        self._options = storage_options
        self._table: DeltaTable | None = None

    def open(self, *, create: bool = True) -> DeltaTable:
        """The table, loaded (or refreshed) to its latest version."""
        try:
            if self._table is None:
                self._table = self._load(create=create)
            else:
                self._table.update_incremental()
        except ArchiveError:
            raise
        except Exception as exc:
            raise _classify(exc) from exc
        return self._table

    def versions(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        """Per partition, the next offset the table expects (absent: it holds none)."""
        table = self.open()
        try:
            found = {p: table.transaction_version(app_id(topic, p)) for p in partitions}
        except Exception as exc:
            self._table = None
            raise _classify(exc) from exc
        return {p: v for p, v in found.items() if v is not None}

    def append(self, data: pa.Table, topic: str, versions: dict[int, int]) -> None:
        """Append `data` and set each partition's txn version, in one commit."""
        table = self._table if self._table is not None else self.open()
        _check_schema(table)
        txns = [Transaction(app_id(topic, p), v) for p, v in sorted(versions.items())]
        try:
            write_deltalake(
                table,
                data,
                mode="append",
                schema_mode="merge",  # a table with more columns (a newer writer's) takes ours
                commit_properties=CommitProperties(app_transactions=txns),
            )
        except Exception as exc:
            self._table = None  # reload from the store next time: this object's state is unsure
            raise _classify(exc) from exc

    def _load(self, *, create: bool) -> DeltaTable:
        try:
            return DeltaTable(self.uri, storage_options=self._options)
        except TableNotFoundError:
            if not create:
                raise
        try:
            return DeltaTable.create(self.uri, SCHEMA, partition_by=PARTITION_COLUMNS,
                                     mode="ignore", storage_options=self._options)  # fmt: skip
        except Exception:  # noqa: BLE001 - another writer created it first: load theirs
            return DeltaTable(self.uri, storage_options=self._options)


def _check_schema(table: DeltaTable) -> None:
    """Refuse to write when the table lost one of our columns or retyped it (someone changed it).

    More columns are fine (a newer writer added them), and so are missing columns this version
    added (`ADDED_COLUMNS`: an older writer's table gains them on append); string types count as
    one type.
    """
    found = {f.name: _kind(f.type) for f in pa.schema(table.schema().to_arrow())}
    missing_ok = ADDED_COLUMNS - found.keys()
    wrong = [
        f.name for f in SCHEMA if f.name not in missing_ok and found.get(f.name) != _kind(f.type)
    ]
    if wrong:
        raise ArchiveError(
            f"the table's schema no longer has these columns as written: {', '.join(wrong)}",
            kind="table_changed",
        )


def _kind(data_type: pa.DataType) -> str:
    if (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or (pa.types.is_string_view(data_type))
    ):
        return "string"
    if pa.types.is_timestamp(data_type):
        return f"timestamp[{data_type.tz or ''}]"
    return str(data_type)


def _classify(exc: Exception) -> ArchiveError:
    """An `ArchiveError` whose kind says what happened (the message names no credential)."""
    if isinstance(exc, CommitFailedError):
        kind = "conflict"
    elif isinstance(exc, (SchemaMismatchError, DeltaProtocolError)):
        kind = "table_changed"
    elif isinstance(exc, TableNotFoundError):
        kind = "table_missing"
    else:
        kind = "store_error"
    return ArchiveError(f"{type(exc).__name__}: {exc}", kind=kind)
