"""The docs' example queries (docs/ARCHIVE.md, "Querying"), run by `streamer archive query`.

Each is checked against the same figures computed in Python from the original Kafka records.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumers.archive.query import run_query
from streamer.cli import main
from tests.support.archive import Archived

pytestmark = pytest.mark.kafka

DOC = Path(__file__).resolve().parents[5] / "docs" / "ARCHIVE.md"
_RESULTS = ("agent.tool_result", "agent.mcp_tool_result", "user.custom_tool_result")
_USES = ("agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use")


def doc_query(title: str) -> str:
    """The SQL under `### title` in the Querying section."""
    text = DOC.read_text().split("## Querying", 1)[1]
    match = re.search(rf"### {re.escape(title)}\n.*?```sql\n(.*?)```", text, re.DOTALL)
    assert match, f"no query {title!r} in docs/ARCHIVE.md"
    return match.group(1)


def events(archived: Archived) -> list[dict[str, Any]]:
    return [r.data | {"_session": r.session_id, "_agent": r.headers.get("ce_agentid")}
            for r in archived.records]  # fmt: skip


def test_tokens_per_agent_per_day(archived: Archived) -> None:
    """Sums per agent and day equal the model requests' usage in the events."""
    expected: Counter[tuple[str, str, str]] = Counter()
    for e in events(archived):
        if e["type"] == "span.model_request_end":
            day = e["processed_at"][:10]
            for name, value in e["model_usage"].items():
                if name.endswith("tokens"):
                    expected[(e["_agent"].decode(), day, name)] += value
    result = run_query(archived.uri, doc_query("Tokens per agent per day"))
    actual: Counter[tuple[str, str, str]] = Counter()
    for row in result.rows:
        record = dict(zip(result.columns, row, strict=True))
        for name in result.columns[2:]:
            actual[(record["agent_id"], record["date"].isoformat(), name)] += int(record[name])

    assert (2, +expected) == (len(result.rows), +actual)


def test_slowest_tool_calls(archived: Archived) -> None:
    """The ten longest use → result intervals, longest first."""
    at = {e["id"]: e["processed_at"] for e in events(archived) if e["type"] in _USES}
    durations = []
    for e in events(archived):
        use = e.get("tool_use_id") or e.get("mcp_tool_use_id") or e.get("custom_tool_use_id")
        if e["type"] in _RESULTS and use in at:
            durations.append((_ms(e["processed_at"]) - _ms(at[use]), use))
    expected = [use for _, use in sorted(durations, key=lambda d: (-d[0], d[1]))[:10]]
    result = run_query(archived.uri, doc_query("Slowest tool calls"))

    assert expected == [row[2] for row in result.rows]


def test_sessions_that_ended_in_error(archived: Archived) -> None:
    """A session whose last status follows an exhausted/terminal error, and only those."""
    last_status: dict[str, dict[str, Any]] = {}
    last_error: dict[str, dict[str, Any]] = {}
    for e in events(archived):
        if e["type"] in ("session.status_idle", "session.status_terminated"):
            last_status[e["_session"]] = e
        elif e["type"] == "session.error":
            last_error[e["_session"]] = e
    expected = set()
    for session, status in last_status.items():
        retry = last_error.get(session, {}).get("error", {}).get("retry_status", {}).get("type")
        exhausted = (status.get("stop_reason") or {}).get("type") == "retries_exhausted"
        terminal = status["type"] == "session.status_terminated" and retry == "terminal"
        if session in last_error and (exhausted or terminal):
            expected.add(session)
    result = run_query(archived.uri, doc_query("Sessions that ended in error"))

    assert archived.failed_session in expected
    assert expected == {row[0] for row in result.rows}


def test_every_denied_approval(archived: Archived) -> None:
    """Denied confirmations and auto-policy denials, each once."""
    denied = {e["tool_use_id"] for e in events(archived)
              if e["type"] == "user.tool_confirmation" and e["result"] == "deny"}  # fmt: skip
    denied |= {e["id"] for e in events(archived)
               if e["type"] in _USES and e.get("evaluated_permission") == "deny"}  # fmt: skip
    result = run_query(archived.uri, doc_query("Every denied approval"))
    actual = [row[3] for row in result.rows]

    assert denied  # the sessions' answers deny bash and merges
    assert (sorted(denied), len(denied)) == (sorted(actual), len(actual))


def test_query_formats_through_the_cli(
    archived: Archived, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--format csv` and `--format json` carry the same rows; the table format counts them."""
    sql = "SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY type"
    outputs = {}
    for fmt in ("csv", "json", "table"):
        assert 0 == main(["archive", "query", "--uri", archived.uri, "--format", fmt, sql])
        outputs[fmt] = capsys.readouterr().out
    expected = sorted(Counter(r.type for r in archived.records).items())
    from_csv = [(row["type"], int(row["n"])) for row in csv.DictReader(io.StringIO(outputs["csv"]))]
    from_json = [(row["type"], row["n"]) for row in orjson.loads(outputs["json"])]

    assert (expected, expected) == (from_csv, from_json)
    assert outputs["table"].rstrip().endswith(f"({len(expected)} rows)")


def test_queries_need_no_extension_download(
    archived: Archived, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an empty home (no DuckDB extension cache) the JSON queries still run: nothing is
    installed or loaded at run time (auto-install is off, so a missing one would fail)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    result = run_query(archived.uri, doc_query("Every denied approval"))
    loaded = run_query(archived.uri, "SELECT extension_name, install_mode FROM "
                       "duckdb_extensions() WHERE loaded ORDER BY 1")  # fmt: skip

    assert result.rows
    assert {"STATICALLY_LINKED"} == {mode for _, mode in loaded.rows}
    assert not (tmp_path / ".duckdb").exists()


def test_bad_sql_is_one_error_line(archived: Archived, capsys: pytest.CaptureFixture[str]) -> None:
    """A query error exits 2 with one `error:` line on stderr, no traceback."""
    code = main(["archive", "query", "--uri", archived.uri, "SELECT nope FROM events"])
    err = capsys.readouterr().err

    assert (2, True, False) == (code, "error: " in err, "Traceback" in err)


def _ms(stamp: str) -> int:
    """Milliseconds since the epoch, truncated (DuckDB's `date_diff` counts ms boundaries)."""
    from datetime import UTC, datetime

    delta = datetime.fromisoformat(stamp) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds) // 1000


def test_parquet_view_equals_the_delta_dataset(own_copy: str, archived: Archived) -> None:
    """The fast path (the log's files read by DuckDB) sees exactly deltalake's rows, also after
    a forget rewrote files (the view must not show the replaced ones)."""
    import duckdb
    from deltalake import DeltaTable

    from consumers.archive import upkeep, views

    upkeep.forget(own_copy, archived.failed_session)
    con = duckdb.connect()
    how = views.register(con, "events", own_copy)
    con.register("reference", DeltaTable(own_copy).to_pyarrow_dataset())
    columns = "session_id, event_id, type, processed_at, raw, kafka_offset, input_tokens, date"
    ours = con.sql(f"SELECT {columns} FROM events ORDER BY event_id").to_arrow_table()
    reference = con.sql(f"SELECT {columns} FROM reference ORDER BY event_id").to_arrow_table()

    assert ("parquet", reference.to_pylist()) == (how, ours.to_pylist())
    assert ours.num_rows == len(archived.records) - len(
        archived.by_session()[archived.failed_session]
    )


def test_dataset_path_filters_files_rewritten_by_forget(own_copy: str, archived: Archived) -> None:
    """deltalake's dataset (the S3 path) over files of both string kinds (forget's delete
    rewrites some with `string_view`) answers a filtered query like the Parquet path."""
    import duckdb
    from deltalake import DeltaTable

    from consumers.archive import upkeep, views

    upkeep.forget(own_copy, archived.hostile_session)
    fast, dataset = duckdb.connect(), duckdb.connect()
    how = (views.register(fast, "events", own_copy),
           views._register_dataset(dataset, "events", DeltaTable(own_copy)))  # fmt: skip
    sql = "SELECT count(*) FROM events WHERE session_id = $1"
    counts = {s: (fast.sql(sql, params=[s]).fetchall(), dataset.sql(sql, params=[s]).fetchall())
              for s in archived.by_session()}  # fmt: skip
    fast.close()
    dataset.close()

    assert ("parquet", "full-scan") == how
    assert all(a == b for a, b in counts.values()), counts
    assert [(0,)] == counts[archived.hostile_session][0]
