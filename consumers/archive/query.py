"""`streamer archive query "SQL"`: DuckDB over the archive table, a view named `events`.

The table is read through `deltalake` (`views.py`: the Delta log's current files read by
DuckDB's built-in Parquet reader, or deltalake's pyarrow dataset for S3 and unusual tables) into
an in-memory DuckDB; DuckDB's own `delta` extension is not used because it is downloaded at run
time. Extension auto-install and auto-load are off, so a query works offline on a fresh machine
or fails with a clear error (the JSON, Parquet and ICU extensions the queries need are built into
the `duckdb` wheel). The `forget` record is the view `forgotten`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from consumers.archive.location import forgotten_uri, table_exists
from consumers.archive.views import register

if TYPE_CHECKING:
    import duckdb

FORMATS = ("table", "csv", "json")
_CELL_WIDTH = 60  # table format only: longer cells are cut (csv and json carry everything)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Column names and rows of one query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def connect(uri: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the table at `uri` as view `events` (and `forgotten`)."""
    import duckdb  # noqa: PLC0415 - keep `streamer --help` light

    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET TimeZone = 'UTC'")
    register(con, "events", uri)
    record = forgotten_uri(uri)
    if table_exists(record):
        register(con, "forgotten", record)
    return con


def run_query(uri: str, sql: str) -> QueryResult:
    """Run `sql` over the table at `uri`."""
    con = connect(uri)
    try:
        relation = con.sql(sql)
        if relation is None:  # a statement without a result (e.g. SET)
            return QueryResult([], [])
        # Through Arrow: DuckDB's own conversion of time zones needs pytz.
        table = relation.to_arrow_table()
        rows = [tuple(row.values()) for row in table.to_pylist()]
        return QueryResult(list(table.column_names), rows)
    finally:
        con.close()


def fetch_rows(uri: str, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a parameterised query over the table at `uri`, as dicts (for the commands that
    read the table: transcript, replay)."""
    con = connect(uri)
    try:
        rows: list[dict[str, Any]] = con.sql(sql, params=params).to_arrow_table().to_pylist()
    finally:
        con.close()
    return rows


def render(result: QueryResult, fmt: str, out: IO[str]) -> None:
    """Write `result` to `out` as an aligned text table, CSV or a JSON array of objects."""
    if fmt == "csv":
        _csv(result, out)
    elif fmt == "json":
        _json(result, out)
    else:
        _table(result, out)


def _csv(result: QueryResult, out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([_plain(v) for v in row] for row in result.rows)


def _json(result: QueryResult, out: IO[str]) -> None:
    import orjson  # noqa: PLC0415

    objects = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    out.write(orjson.dumps(objects, default=_plain, option=orjson.OPT_INDENT_2).decode() + "\n")


def _table(result: QueryResult, out: IO[str]) -> None:
    cells = [[_cell(v) for v in row] for row in result.rows]
    widths = [len(c) for c in result.columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [_line(result.columns, widths), "  ".join("-" * w for w in widths)]
    lines += [_line(row, widths) for row in cells]
    rows = len(result.rows)
    lines.append(f"({rows} row{'' if rows == 1 else 's'})")
    out.write("\n".join(lines) + "\n")


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(_plain(value))
    text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", " ")
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 1] + "…"


def _plain(value: Any) -> Any:
    """A value CSV and JSON can carry: timestamps as ISO 8601, bytes as UTF-8 text, numbers."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, Decimal):  # DuckDB's sums are HUGEINT / DECIMAL
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)  # UUID, interval, ...


def to_text(result: QueryResult, fmt: str) -> str:
    """`render` into a string."""
    buffer = io.StringIO()
    render(result, fmt, buffer)
    return buffer.getvalue()
