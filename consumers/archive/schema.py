"""The archive table's layout: its pyarrow schema, and events turned into rows of it.

One row per event. `raw` is the event JSON byte for byte as the API sent it (the Kafka record's
value), so nothing is lost to the schema; the other columns are extracted from it (or from the
record's headers and position) for queries. The schema only ever grows: columns are added, never
renamed, retyped or removed (docs/ARCHIVE.md, "Table layout").

Everything here is pure: `RowBuilder` collects rows (one tuple per event) and `to_table` makes a
`pyarrow.Table` of `SCHEMA` column by column; `records_to_table` does both for a list of records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from consumers.base import EventRecord

PARTITION_COLUMNS: Final = ["date"]

_TS = pa.timestamp("us", tz="UTC")

SCHEMA: Final = pa.schema(
    [
        pa.field("session_id", pa.string(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("processed_at", _TS),  # null: the event had none, or not RFC 3339
        pa.field("thread_id", pa.string()),
        pa.field("agent_id", pa.string()),
        pa.field("agent_model", pa.string()),  # added later: see ADDED_COLUMNS
        pa.field("raw", pa.large_string(), nullable=False),
        pa.field("kafka_topic", pa.string(), nullable=False),
        pa.field("kafka_partition", pa.int32(), nullable=False),
        pa.field("kafka_offset", pa.int64(), nullable=False),
        pa.field("kafka_timestamp", _TS),  # when the record reached Kafka
        # Typed query columns, null where the event type has no such field.
        pa.field("input_tokens", pa.int64()),  # span.model_request_end model_usage
        pa.field("output_tokens", pa.int64()),
        pa.field("cache_read_input_tokens", pa.int64()),
        pa.field("cache_creation_input_tokens", pa.int64()),
        pa.field("tool_name", pa.string()),  # agent.(mcp_|custom_)tool_use
        pa.field("tool_use_id", pa.string()),  # on results and confirmations: the use answered
        pa.field("is_error", pa.bool_()),  # tool results, span.model_request_end
        pa.field("confirmation_result", pa.string()),  # user.tool_confirmation: allow | deny
        pa.field("stop_reason", pa.string()),  # session.(thread_)status_idle stop_reason.type
        pa.field("error_type", pa.string()),  # session.error / workflow_run.error error.type
        pa.field("date", pa.date32(), nullable=False),  # partition: UTC day of processed_at
    ]
)

COLUMNS: Final = tuple(SCHEMA.names)
# Columns added after the first release: a table an older writer created lacks them until our
# first append (schema_mode="merge") adds them; readers see null for the older rows.
ADDED_COLUMNS: Final = frozenset({"agent_model"})

# Anomalies `RowBuilder.append` reports (a fixed vocabulary: metric label values).
NO_PROCESSED_AT: Final = "no_processed_at"
BAD_PROCESSED_AT: Final = "bad_processed_at"
BAD_TEXT: Final = "bad_text"


_TYPED = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
          "tool_name", "tool_use_id", "is_error", "confirmation_result", "stop_reason",
          "error_type")  # fmt: skip
_NO_TYPED: Final = (None,) * len(_TYPED)
_NO_TOKENS: Final = (None,) * 4  # the first four typed columns
_EPOCH = datetime.fromtimestamp(0, UTC)
_MICROSECOND = timedelta(microseconds=1)

# How each value of a row tuple becomes an Arrow array: the timestamps are kept as integers
# (µs since the epoch for processed_at, Kafka's ms for kafka_timestamp) and `raw` as its bytes,
# then cast as whole columns, which costs far less than converting datetimes or re-encoding
# strings one by one. `date` (the last column) is not in the tuple: it is derived from the
# timestamps' columns.
_AS_STORED = {"processed_at": pa.int64(), "raw": pa.large_binary(), "kafka_timestamp": pa.int64()}
_ROW_TYPES: Final = tuple(_AS_STORED.get(f.name, f.type) for f in SCHEMA if f.name != "date")
_PROCESSED_AT = COLUMNS.index("processed_at")
_RAW = COLUMNS.index("raw")
_KAFKA_TIMESTAMP = COLUMNS.index("kafka_timestamp")
_MS = pa.timestamp("ms", tz="UTC")
_EPOCH_SCALAR = pa.scalar(0, _TS)

Anomaly = tuple[EventRecord, str]  # a record, and what was wrong with it (a metric label)


class RowBuilder:
    """Rows of `SCHEMA` collected in order; `to_table()` makes the pyarrow table."""

    def __init__(self) -> None:
        self._rows: list[tuple[Any, ...]] = []
        self.raw_bytes = 0

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, record: EventRecord) -> list[str]:
        """Add one event's row; returns the anomalies found (empty: none), the row is kept."""
        return [kind for _, kind in self.extend([record])]

    def extend(self, records: Iterable[EventRecord]) -> list[Anomaly]:
        """Add the events' rows in order; the anomalies met (empty: none), the rows are kept."""
        anomalies: list[Anomaly] = []
        rows = self._rows
        for record in records:
            rows.append(_row(record, anomalies))
            self.raw_bytes += len(record.raw)
        return anomalies

    def to_table(self) -> pa.Table:
        """The rows so far as a table of `SCHEMA`, in the order appended."""
        columns = list(zip(*self._rows, strict=True)) if self._rows else [()] * len(_ROW_TYPES)
        try:
            arrays = [pa.array(c, type=t) for c, t in zip(columns, _ROW_TYPES, strict=True)]
        except (UnicodeEncodeError, pa.ArrowException):
            # Only records built by hand can get here: the runner's (orjson) rejects lone
            # surrogates. Replace what UTF-8 cannot carry rather than lose the rows.
            cleaned = [tuple(_scrub(v) for v in c) for c in columns]
            arrays = [pa.array(c, type=t) for c, t in zip(cleaned, _ROW_TYPES, strict=True)]
        arrays[_PROCESSED_AT] = arrays[_PROCESSED_AT].cast(_TS)
        arrays[_RAW] = arrays[_RAW].cast(pa.large_string())  # valid UTF-8: checked in `_row`
        arrays[_KAFKA_TIMESTAMP] = arrays[_KAFKA_TIMESTAMP].cast(_MS).cast(_TS)
        stamp = pc.coalesce(arrays[_PROCESSED_AT], arrays[_KAFKA_TIMESTAMP], _EPOCH_SCALAR)
        return pa.Table.from_arrays([*arrays, stamp.cast(pa.date32())], schema=SCHEMA)


def records_to_table(records: Iterable[EventRecord]) -> pa.Table:
    """The table of `SCHEMA` holding one row per record, in the given order."""
    rows = RowBuilder()
    rows.extend(records)
    return rows.to_table()


def _row(record: EventRecord, anomalies: list[Anomaly]) -> tuple[Any, ...]:
    """One event's row tuple (`COLUMNS` order, `date` left out); adds its anomalies."""
    data = record.data
    processed_at, problem = _timestamp(data.get("processed_at"))
    if problem:
        anomalies.append((record, problem))
    raw = record.raw
    if not raw.isascii() and _text(raw) is None:
        anomalies.append((record, BAD_TEXT))
        raw = raw.decode("utf-8", "replace").encode()
    headers = record.headers
    thread = headers.get("ce_threadid")
    agent = headers.get("ce_agentid")
    model = headers.get("ce_agentmodel")
    extract = _EXTRACTORS.get(record.type)
    return (
        record.session_id,
        record.event_id,
        record.type,
        processed_at,
        (_text(thread) if thread else None) or _str(data.get("session_thread_id")),
        (_text(agent) or None) if agent else None,
        (_text(model) or None) if model else None,
        raw,
        record.topic,
        record.partition,
        record.offset,
        record.timestamp_ms if record.timestamp_ms > 0 else None,
        *(extract(data) if extract else _NO_TYPED),
    )


def typed_columns(event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The typed query columns of one event (every one present; None where not applicable)."""
    extract = _EXTRACTORS.get(event_type)
    return dict(zip(_TYPED, extract(data) if extract else _NO_TYPED, strict=True))


# One extractor per event type with typed columns, each giving the `_TYPED` values.


def _model_request_end(data: Mapping[str, Any]) -> tuple[Any, ...]:
    usage = data.get("model_usage")
    tokens: tuple[int | None, ...] = _NO_TOKENS
    if isinstance(usage, Mapping):
        tokens = (_int(usage.get("input_tokens")), _int(usage.get("output_tokens")),
                  _int(usage.get("cache_read_input_tokens")),
                  _int(usage.get("cache_creation_input_tokens")))  # fmt: skip
    return (*tokens, None, None, _bool(data.get("is_error")), None, None, None)


def _tool_use(data: Mapping[str, Any]) -> tuple[Any, ...]:
    return (*_NO_TOKENS, _str(data.get("name")), None, None, None, None, None)


def _answer(ref: str) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A tool result's extractor: the use it answers (`ref` names the field), is_error."""

    def extract(data: Mapping[str, Any]) -> tuple[Any, ...]:
        return (*_NO_TOKENS, None, _str(data.get(ref)), _bool(data.get("is_error")), None, None,
                None)  # fmt: skip

    return extract


def _confirmation(data: Mapping[str, Any]) -> tuple[Any, ...]:
    return (*_NO_TOKENS, None, _str(data.get("tool_use_id")), None, _str(data.get("result")),
            None, None)  # fmt: skip


def _idle(data: Mapping[str, Any]) -> tuple[Any, ...]:
    stop = data.get("stop_reason")
    reason = _str(stop.get("type")) if isinstance(stop, Mapping) else _str(stop)
    return (*_NO_TOKENS, None, None, None, None, reason, None)


def _error(data: Mapping[str, Any]) -> tuple[Any, ...]:
    error = data.get("error")
    kind = _str(error.get("type")) if isinstance(error, Mapping) else None
    return (*_NO_TOKENS, None, None, None, None, None, kind)


_EXTRACTORS: Final[dict[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]]] = {
    "span.model_request_end": _model_request_end,
    **dict.fromkeys(("agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use"), _tool_use),
    "agent.tool_result": _answer("tool_use_id"),
    "agent.mcp_tool_result": _answer("mcp_tool_use_id"),
    "user.custom_tool_result": _answer("custom_tool_use_id"),
    "user.tool_result": _answer("tool_use_id"),
    "user.tool_confirmation": _confirmation,
    **dict.fromkeys(("session.status_idle", "session.thread_status_idle"), _idle),
    **dict.fromkeys(("session.error", "workflow_run.error"), _error),
}


def _timestamp(value: object) -> tuple[int | None, str | None]:
    """An RFC 3339 time as µs since the epoch, or None and the anomaly."""
    if value is None or value == "":
        return None, NO_PROCESSED_AT
    if not isinstance(value, str):
        return None, BAD_PROCESSED_AT
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, BAD_PROCESSED_AT
    if parsed.tzinfo is None:
        return None, BAD_PROCESSED_AT  # RFC 3339 requires an offset; guessing one would lie
    return (parsed - _EPOCH) // _MICROSECOND, None


def _text(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _scrub(value: Any) -> Any:
    if isinstance(value, str) and not _encodable(value):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value
