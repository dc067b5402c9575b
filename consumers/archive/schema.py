"""The archive table's layout: its pyarrow schema, and events turned into rows of it.

One row per event. `raw` is the event JSON byte for byte as the API sent it (the Kafka record's
value), so nothing is lost to the schema; the other columns are extracted from it (or from the
record's headers and position) for queries. The schema only ever grows: columns are added, never
renamed, retyped or removed (docs/ARCHIVE.md, "Table layout").

Everything here is pure: `RowBuilder` collects rows column by column and `to_table` makes a
`pyarrow.Table` of `SCHEMA`; `records_to_table` does both for a list of records.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import pyarrow as pa

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

_TOOL_USES = frozenset({"agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use"})
_TOOL_USE_REFS = {
    "agent.tool_result": "tool_use_id",
    "agent.mcp_tool_result": "mcp_tool_use_id",
    "user.custom_tool_result": "custom_tool_use_id",
    "user.tool_result": "tool_use_id",
    "user.tool_confirmation": "tool_use_id",
}
_HAS_IS_ERROR = frozenset({"span.model_request_end", *_TOOL_USE_REFS} - {"user.tool_confirmation"})
_IDLE = frozenset({"session.status_idle", "session.thread_status_idle"})
_ERRORS = frozenset({"session.error", "workflow_run.error"})
_TOKENS = ("input_tokens", "output_tokens", "cache_read_input_tokens",
           "cache_creation_input_tokens")  # fmt: skip

# Anomalies `RowBuilder.append` reports (a fixed vocabulary: metric label values).
NO_PROCESSED_AT: Final = "no_processed_at"
BAD_PROCESSED_AT: Final = "bad_processed_at"
BAD_TEXT: Final = "bad_text"


_TYPED = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
          "tool_name", "tool_use_id", "is_error", "confirmation_result", "stop_reason",
          "error_type")  # fmt: skip
_HAS_TYPED = frozenset({"span.model_request_end", *_TOOL_USES, *_TOOL_USE_REFS, *_IDLE, *_ERRORS})
_NO_TYPED: Final = (None,) * len(_TYPED)
_NO_TOKENS: Final = (None,) * len(_TOKENS)
_EPOCH = datetime.fromtimestamp(0, UTC)


class RowBuilder:
    """Rows of `SCHEMA` collected in order; `to_table()` makes the pyarrow table."""

    def __init__(self) -> None:
        self._rows: list[tuple[Any, ...]] = []
        self.raw_bytes = 0

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, record: EventRecord) -> list[str]:
        """Add one event's row; returns the anomalies found (empty: none), the row is kept."""
        row, anomalies = _row(record)
        self._rows.append(row)
        self.raw_bytes += len(record.raw)
        return anomalies

    def to_table(self) -> pa.Table:
        """The rows so far as a table of `SCHEMA`, in the order appended."""
        columns = list(zip(*self._rows, strict=True)) if self._rows else [()] * len(COLUMNS)
        try:
            return pa.Table.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(columns, SCHEMA, strict=True)],
                schema=SCHEMA,
            )
        except (UnicodeEncodeError, pa.ArrowException):
            # Only records built by hand can get here: the runner's (orjson) rejects lone
            # surrogates. Replace what UTF-8 cannot carry rather than lose the rows.
            cleaned = [tuple(_scrub(v) for v in c) for c in columns]
            return pa.Table.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(cleaned, SCHEMA, strict=True)],
                schema=SCHEMA,
            )


def records_to_table(records: Iterable[EventRecord]) -> pa.Table:
    """The table of `SCHEMA` holding one row per record, in the given order."""
    rows = RowBuilder()
    for record in records:
        rows.append(record)
    return rows.to_table()


def event_row(record: EventRecord) -> tuple[dict[str, Any], list[str]]:
    """One event's row (column -> value) and the anomalies met extracting it."""
    row, anomalies = _row(record)
    return dict(zip(COLUMNS, row, strict=True)), anomalies


def _row(record: EventRecord) -> tuple[tuple[Any, ...], list[str]]:
    """One event's row, in `COLUMNS` order, and its anomalies."""
    data, anomalies = record.data, []
    processed_at, problem = _timestamp(data.get("processed_at"))
    if problem:
        anomalies.append(problem)
    kafka_ts = _from_ms(record.timestamp_ms)
    raw = _text(record.raw)
    if raw is None:
        anomalies.append(BAD_TEXT)
        raw = record.raw.decode("utf-8", "replace")
    headers = record.headers
    thread = headers.get("ce_threadid")
    agent = headers.get("ce_agentid")
    model = headers.get("ce_agentmodel")
    typed = _typed(record.type, data) if record.type in _HAS_TYPED else _NO_TYPED
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
        kafka_ts,
        *typed,
        (processed_at or kafka_ts or _EPOCH).date(),
    ), anomalies


def typed_columns(event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The typed query columns of one event (every one present; None where not applicable)."""
    typed = _typed(event_type, data) if event_type in _HAS_TYPED else _NO_TYPED
    return dict(zip(_TYPED, typed, strict=True))


def _typed(event_type: str, data: Mapping[str, Any]) -> tuple[Any, ...]:
    usage = data.get("model_usage") if event_type == "span.model_request_end" else None
    tokens = (
        tuple(_int(usage.get(n)) for n in _TOKENS) if isinstance(usage, Mapping) else _NO_TOKENS
    )
    ref = _TOOL_USE_REFS.get(event_type)
    stop = data.get("stop_reason") if event_type in _IDLE else None
    error = data.get("error") if event_type in _ERRORS else None
    is_error = data.get("is_error") if event_type in _HAS_IS_ERROR else None
    result = data.get("result") if event_type == "user.tool_confirmation" else None
    return (
        *tokens,
        _str(data.get("name")) if event_type in _TOOL_USES else None,
        _str(data.get(ref)) if ref else None,
        is_error if isinstance(is_error, bool) else None,
        _str(result),
        _str(stop.get("type")) if isinstance(stop, Mapping) else _str(stop),
        _str(error.get("type")) if isinstance(error, Mapping) else None,
    )


def _timestamp(value: object) -> tuple[datetime | None, str | None]:
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
    return parsed.astimezone(UTC), None


@functools.lru_cache(maxsize=1024)  # a batch's records mostly share a few timestamps
def _from_ms(ms: int) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms > 0 else None


def _text(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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
