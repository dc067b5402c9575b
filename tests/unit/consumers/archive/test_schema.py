"""The archive table's rows: one per event, `raw` untouched, typed columns where they apply."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
import pyarrow as pa

from consumers.archive.schema import (
    BAD_PROCESSED_AT,
    NO_PROCESSED_AT,
    SCHEMA,
    RowBuilder,
    records_to_table,
    typed_columns,
)
from consumers.base import EventRecord


def record(data: dict[str, Any] | bytes, offset: int = 0, **headers: str) -> EventRecord:
    """An EventRecord parsed the way the runner parses one (partition 3, Kafka time 2026-04-07)."""
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    return EventRecord.parse(
        topic="agents.session-events",
        partition=3,
        offset=offset,
        key=b"sesn_1",
        value=raw,
        headers={k: v.encode() for k, v in headers.items()},
        timestamp_ms=1_775_536_060_500,
    )


def one_row(data: dict[str, Any] | bytes, **headers: str) -> dict[str, Any]:
    """The single row the table holds for one event."""
    return records_to_table([record(data, **headers)]).to_pylist()[0]


def test_typed_columns_sit_where_the_schema_has_them() -> None:
    """Each typed value lands in its own column of the row (the row is built by position)."""
    data = {"id": "sevt_1", "type": "agent.tool_use", "name": "bash", "is_error": True}
    row = one_row(data)
    expected = {**dict.fromkeys(typed_columns("x.y", {})), "tool_name": "bash"}
    assert expected == {k: row[k] for k in expected}


def test_table_has_the_schema() -> None:
    """The table built from records has exactly SCHEMA (the layout docs/ARCHIVE.md describes)."""
    table = records_to_table([record({"id": "sevt_1", "type": "agent.thinking"})])
    assert SCHEMA == table.schema


def test_raw_is_the_record_value_byte_for_byte() -> None:
    """`raw` keeps the JSON as sent: key order, spacing, unknown fields and escapes."""
    raw = (
        b'{"type":"future.kind", "id":"sevt_1","processed_at":null,"x":{"y":[1, 2]},"e":"\\u00e9"}'
    )
    assert raw.decode() == one_row(raw)["raw"]


def test_envelope_columns() -> None:
    """Ids, type, UTC processed_at, its date, thread and agent from the headers, Kafka position."""
    row = one_row(
        {"id": "sevt_1", "type": "agent.message", "processed_at": "2026-04-07T23:59:59.5+02:00"},
        ce_threadid="sthr_1",
        ce_agentid="agent_1",
    )
    expected = {
        "session_id": "sesn_1",
        "event_id": "sevt_1",
        "type": "agent.message",
        "processed_at": datetime(2026, 4, 7, 21, 59, 59, 500_000, UTC),
        "date": date(2026, 4, 7),
        "thread_id": "sthr_1",
        "agent_id": "agent_1",
        "kafka_topic": "agents.session-events",
        "kafka_partition": 3,
        "kafka_offset": 0,
        "kafka_timestamp": datetime(2026, 4, 7, 4, 27, 40, 500_000, UTC),
    }
    assert expected == {k: row[k] for k in expected}


def test_thread_id_falls_back_to_the_event_field() -> None:
    """Without a ce_threadid header the event's own session_thread_id is the thread."""
    row = one_row({"id": "sevt_1", "type": "agent.tool_use", "session_thread_id": "sthr_2"})
    assert "sthr_2" == row["thread_id"]


def test_model_request_tokens() -> None:
    """span.model_request_end's model_usage fills the four token columns."""
    usage = {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 30,
             "cache_creation_input_tokens": 40, "speed": "fast"}  # fmt: skip
    columns = typed_columns("span.model_request_end", {"model_usage": usage, "is_error": False})
    assert (10, 20, 30, 40, False) == (
        columns["input_tokens"],
        columns["output_tokens"],
        columns["cache_read_input_tokens"],
        columns["cache_creation_input_tokens"],
        columns["is_error"],
    )


def test_session_usage_snapshots_do_not_count_as_model_requests() -> None:
    """session.usage is a cumulative snapshot: summing it would double count, so no tokens."""
    columns = typed_columns("session.usage", {"usage": {"input_tokens": 5}})
    assert columns["input_tokens"] is None


def test_tool_columns() -> None:
    """Tool uses name the tool; results and confirmations name the use they answer."""
    use = typed_columns("agent.mcp_tool_use", {"name": "search", "mcp_server_name": "docs"})
    result = typed_columns("agent.mcp_tool_result", {"mcp_tool_use_id": "sevt_u", "is_error": True})
    confirmation = typed_columns("user.tool_confirmation", {"tool_use_id": "sevt_u",
                                                            "result": "deny"})  # fmt: skip
    assert ("search", None) == (use["tool_name"], use["tool_use_id"])
    assert ("sevt_u", True) == (result["tool_use_id"], result["is_error"])
    assert ("sevt_u", "deny") == (confirmation["tool_use_id"], confirmation["confirmation_result"])


def test_stop_reason_and_error_type() -> None:
    """Idle events give their stop reason's type; error events their error's type."""
    idle = typed_columns("session.status_idle", {"stop_reason": {"type": "end_turn"}})
    error = typed_columns("session.error", {"error": {"type": "overloaded_error"}})
    assert ("end_turn", "overloaded_error") == (idle["stop_reason"], error["error_type"])


def test_fields_of_the_wrong_type_are_left_null() -> None:
    """A field of an unexpected JSON type leaves its column null; the event stays in `raw`."""
    columns = typed_columns("span.model_request_end", {"model_usage": {"input_tokens": "many"}})
    weird = typed_columns("agent.tool_use", {"name": 7})
    assert (None, None) == (columns["input_tokens"], weird["tool_name"])


def test_unknown_event_types_have_only_envelope_columns() -> None:
    """An unknown type is archived with its envelope; every typed column is null."""
    columns = typed_columns("robot.dance", {"name": "x", "stop_reason": "y", "is_error": True})
    assert {None} == set(columns.values())


def test_missing_processed_at_uses_the_kafka_day_and_is_reported() -> None:
    """No processed_at: the column is null, `date` is the day the record reached Kafka."""
    rows = RowBuilder()
    anomalies = rows.append(record({"id": "sevt_1", "type": "agent.message"}))
    row = rows.to_table().to_pylist()[0]
    assert ([NO_PROCESSED_AT], None, date(2026, 4, 7)) == (
        anomalies,
        row["processed_at"],
        row["date"],
    )


def test_unparsable_processed_at_is_reported() -> None:
    """A processed_at that is not RFC 3339 (or has no offset) is null and reported."""
    rows = RowBuilder()
    bad = rows.append(record({"id": "sevt_1", "type": "x.y", "processed_at": "yesterday"}))
    naive = rows.append(record({"id": "sevt_2", "type": "x.y", "processed_at": "2026-04-07T04:00"}))
    assert ([BAD_PROCESSED_AT], [BAD_PROCESSED_AT]) == (bad, naive)


def test_rows_keep_the_order_appended() -> None:
    """Rows come out in the order appended (the consumer appends in per-session order)."""
    records = [record({"id": f"sevt_{i}", "type": "agent.message"}, offset=i) for i in range(5)]
    table = records_to_table(records)
    assert list(range(5)) == table.column("kafka_offset").to_pylist()


def test_a_large_event_fits() -> None:
    """A 10 MB event is one row; `raw` is a large string, so batches of them do not overflow."""
    text = "x" * 10_000_000
    rows = RowBuilder()
    rows.append(record({"id": "sevt_1", "type": "agent.tool_result", "content": text}))
    table = rows.to_table()
    assert (1, pa.large_string()) == (table.num_rows, table.schema.field("raw").type)
    assert rows.raw_bytes > 10_000_000
