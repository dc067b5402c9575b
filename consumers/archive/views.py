"""A Delta table as a DuckDB view, read without any DuckDB extension.

Local tables: the current version's data files (from the Delta log, through `deltalake`) read by
DuckDB's built-in Parquet reader, partition columns from the Hive-style paths delta-rs writes
(checked against the log's partition values), so DuckDB prunes partitions and reads in
parallel. Everything else goes through `deltalake`'s pyarrow dataset, which reads any store
delta-rs supports (S3 included) and is correct for every table, only slower: object stores
(DuckDB would need its `httpfs` extension, downloaded at run time), tables whose protocol needs
reader features (deletion vectors, column mapping), partition types outside the simple ones,
paths that do not spell their partition values, and tables with no data file yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from consumers.archive.location import open_table

if TYPE_CHECKING:
    import duckdb
    from deltalake import DeltaTable

# Delta partition column types DuckDB's Hive partitioning can type exactly.
_HIVE_TYPES = {"string": "VARCHAR", "date": "DATE", "integer": "INTEGER", "long": "BIGINT",
               "short": "SMALLINT", "byte": "TINYINT", "boolean": "BOOLEAN"}  # fmt: skip


def register(con: duckdb.DuckDBPyConnection, name: str, uri: str) -> str:
    """Make the table at `uri` the view `name`; returns how it is read ("parquet" | "dataset")."""
    table = open_table(uri)
    files = local_files(table)
    if files is None:
        return _register_dataset(con, name, table)
    types = ", ".join(f"{_literal(c)}: {_literal(t)}"
                      for c, t in (_partition_types(table) or {}).items())  # fmt: skip
    listing = ", ".join(_literal(f) for f in files)
    # Every value is a quoted literal (`_literal`); `name` is one of ours. DuckDB takes no
    # parameters in a view's definition.
    options = "union_by_name = true, hive_partitioning = false"
    if types:
        options = f"union_by_name = true, hive_partitioning = true, hive_types = {{{types}}}"
    sql = f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{listing}], {options})"  # noqa: S608
    con.execute(sql)
    return "parquet"


def _register_dataset(con: duckdb.DuckDBPyConnection, name: str, table: DeltaTable) -> str:
    """deltalake's dataset, typed as its files are. Files rewritten by delta-rs' delete hold
    `string_view` columns where the others hold `string`; pyarrow cannot compare one with a
    literal of the other, which is what DuckDB's filter pushdown asks of it. So: the dataset
    typed like the files when they agree, and when they are mixed a full scan without pushdown
    (correct, slower)."""
    import pyarrow as pa  # noqa: PLC0415

    dataset = table.to_pyarrow_dataset()
    views = {_has_views(f.physical_schema) for f in dataset.get_fragments()}
    if views == {True}:
        schema = pa.schema([pa.field(f.name, _as_view(f.type), f.nullable) for f in dataset.schema])
        con.register(name, table.to_pyarrow_dataset(schema=schema))
        return "dataset"
    if views == {True, False}:
        con.register(name, _FullScan(dataset))
        return "full-scan"
    con.register(name, dataset)
    return "dataset"


class _FullScan:
    """A dataset DuckDB reads whole each time (an Arrow stream per scan: no pushdown)."""

    def __init__(self, dataset: Any) -> None:
        self._dataset = dataset

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        reader = self._dataset.scanner().to_reader()
        return reader.__arrow_c_stream__(requested_schema)


def _has_views(schema: Any) -> bool:
    import pyarrow as pa  # noqa: PLC0415

    return any(pa.types.is_string_view(t) or pa.types.is_binary_view(t) for t in schema.types)


def _as_view(kind: Any) -> Any:
    import pyarrow as pa  # noqa: PLC0415

    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pa.string_view()
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return pa.binary_view()
    return kind


def local_files(table: DeltaTable) -> list[str] | None:
    """The data files of a local table DuckDB can read directly; None: use the dataset."""
    if not table.table_uri.startswith("file://"):
        return None
    protocol = table.protocol()
    if protocol.reader_features or protocol.min_reader_version > 1:
        return None
    if _partition_types(table) is None:
        return None
    files: list[str] = table.file_uris()
    if not files or not _paths_spell_partitions(table):
        return None
    return files


def _partition_types(table: DeltaTable) -> dict[str, str] | None:
    columns = table.metadata().partition_columns
    types: dict[str, str] = {}
    for field in table.schema().fields:
        if field.name in columns:
            kind = getattr(field.type, "type", None)
            if kind not in _HIVE_TYPES:
                return None
            types[field.name] = _HIVE_TYPES[kind]
    return types if len(types) == len(columns) else None


def _paths_spell_partitions(table: DeltaTable) -> bool:
    """Every data file's path starts with `col=value/` of its partition values, in order."""
    import pyarrow as pa  # noqa: PLC0415

    columns = table.metadata().partition_columns
    if not columns:
        return True
    actions = pa.table(table.get_add_actions(flatten=True))
    values = [actions.column(f"partition.{c}").to_pylist() for c in columns]
    for n, path in enumerate(actions.column("path").to_pylist()):
        prefix = "".join(f"{c}={_spelled(v[n])}/" for c, v in zip(columns, values, strict=True))
        if not path.startswith(prefix):
            return False
    return True


def _spelled(value: object) -> str:
    if value is None:
        return "__HIVE_DEFAULT_PARTITION__"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
