"""DuckDB over the archive: "tokens per agent per day" on the Delta table vs the same JSONL.

Generates N events shaped like agents' sessions (model requests with token usage, messages, tool
uses and results, status changes; 50 agents, 7 days), archives them as `consumers.archive`
does (rows of `consumers.archive.schema`, appended to a Delta table partitioned by `date` in
batches of 100,000), and writes the equivalent JSONL files: one per day, one line per event
holding what the archive keeps (session, agent, Kafka position, and the event JSON as `event`).
Then runs the docs' "Tokens per agent per day" query (docs/ARCHIVE.md) through
`streamer archive query`'s code path (table opened with deltalake, registered in DuckDB), and the
same aggregation over the JSONL files with DuckDB's `read_json`, checks both give the same rows,
and prints wall and CPU time (this process, all DuckDB threads) of each, and the ratios.

    .venv/bin/python bench/archive_query.py --events 1000000 --dir /tmp/archive-bench

Generation and writing happen before any clock starts. One run; each query is timed `--repeat`
times (default 3) and the median is reported.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
from deltalake import write_deltalake

from consumers.archive.query import run_query
from consumers.archive.schema import PARTITION_COLUMNS, records_to_table
from consumers.base import EventRecord

DOC = Path(__file__).resolve().parents[1] / "docs" / "ARCHIVE.md"
TOPIC = "agents.session-events"
START = datetime(2026, 11, 30, tzinfo=UTC)
# One turn of a session (the `load` scenario's shape): ~12 events, one model request in four.
TURN = ["session.status_running", "span.model_request_start", "agent.thinking", "agent.message",
        "span.model_request_end", "agent.tool_use", "agent.tool_result",
        "span.model_request_start", "agent.message", "span.model_request_end",
        "session.usage", "session.status_idle"]  # fmt: skip
JSONL_SQL = """
SELECT agent_id,
       CAST(CAST(event->>'$.processed_at' AS TIMESTAMPTZ) AS DATE) AS date,
       sum(CAST(event->>'$.model_usage.input_tokens' AS BIGINT)) AS input_tokens,
       sum(CAST(event->>'$.model_usage.output_tokens' AS BIGINT)) AS output_tokens,
       sum(CAST(event->>'$.model_usage.cache_read_input_tokens' AS BIGINT))
           AS cache_read_input_tokens,
       sum(CAST(event->>'$.model_usage.cache_creation_input_tokens' AS BIGINT))
           AS cache_creation_input_tokens
FROM read_json('{files}', format = 'newline_delimited',
               columns = {{session_id: 'VARCHAR', agent_id: 'VARCHAR', kafka_partition: 'INTEGER',
                          kafka_offset: 'BIGINT', event: 'JSON'}})
WHERE event->>'$.type' = 'span.model_request_end'
GROUP BY agent_id, date
ORDER BY date, agent_id
"""


def main() -> None:
    """Generate, write, query both ways, print the figures."""
    args = _parse()
    root = Path(args.dir)
    shutil.rmtree(root, ignore_errors=True)
    uri, jsonl = str(root / "delta"), root / "jsonl"
    jsonl.mkdir(parents=True)
    written = time.monotonic()
    _write(args.events, args.sessions, uri, jsonl)
    print(
        f"wrote {args.events:,} events in {time.monotonic() - written:.0f} s: "
        f"delta {_size(Path(uri)) / 1e6:.0f} MB, jsonl {_size(jsonl) / 1e6:.0f} MB"
    )
    sql = _doc_query()
    delta_rows, delta = _timed(lambda: run_query(uri, sql).rows, args.repeat)
    jsonl_rows, raw = _timed(lambda: _jsonl_query(jsonl), args.repeat)
    assert _norm(delta_rows) == _norm(jsonl_rows), "the two queries disagree"
    print(f"rows: {len(delta_rows)} (agent x day), identical both ways")
    print(f"delta: {delta[0]:.3f} s wall, {delta[1]:.3f} s CPU (median of {args.repeat})")
    print(f"jsonl: {raw[0]:.3f} s wall, {raw[1]:.3f} s CPU (median of {args.repeat})")
    print(f"ratio jsonl/delta: {raw[0] / delta[0]:.1f}x wall, {raw[1] / delta[1]:.1f}x CPU")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--dir", default="/tmp/archive-bench")
    parser.add_argument("--repeat", type=int, default=3)
    return parser.parse_args()


def _write(count: int, sessions: int, uri: str, jsonl: Path) -> None:
    files: dict[str, Any] = {}
    try:
        batch: list[EventRecord] = []
        for record in _records(count, sessions):
            batch.append(record)
            day = record.data["processed_at"][:10]
            out = files.get(day) or files.setdefault(day, (jsonl / f"{day}.jsonl").open("wb"))
            out.write(_line(record))
            if len(batch) == 100_000:
                _append(uri, batch)
                batch = []
        if batch:
            _append(uri, batch)
    finally:
        for out in files.values():
            out.close()


def _append(uri: str, batch: list[EventRecord]) -> None:
    write_deltalake(uri, records_to_table(batch), mode="append", partition_by=PARTITION_COLUMNS)


def _records(count: int, sessions: int) -> Iterator[EventRecord]:
    """`count` events: sessions take turns, each session on one of 12 partitions, in order."""
    rng = random.Random(7)
    offsets = [0] * 12
    span = timedelta(days=7) / count
    for n in range(count):
        session = n % sessions
        kind = TURN[(n // sessions) % len(TURN)]
        partition = session % 12
        data = _event(kind, n, rng, START + span * n)
        raw = orjson.dumps(data)
        headers = {"ce_agentid": f"agent_{session % 50:03d}".encode()}
        yield EventRecord(TOPIC, partition, offsets[partition], f"sesn_{session:08d}",
                          data["id"], kind, data, raw, headers, 0)  # fmt: skip
        offsets[partition] += 1


def _event(kind: str, n: int, rng: random.Random, at: datetime) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "id": f"sevt_{n:026x}",
                             "processed_at": at.isoformat(timespec="milliseconds")}  # fmt: skip
    if kind == "span.model_request_end":
        event["model_request_start_id"] = f"sevt_{n - 1:026x}"
        event["model_usage"] = {"input_tokens": rng.randint(100, 5000),
                                "output_tokens": rng.randint(10, 2000),
                                "cache_read_input_tokens": rng.randint(0, 20000),
                                "cache_creation_input_tokens": rng.randint(0, 3000)}  # fmt: skip
    elif kind == "agent.message":
        event["content"] = [{"type": "text", "text": "Let me look at the layout. " * 12}]
    elif kind == "agent.tool_use":
        event |= {"name": "read", "input": {"file_path": f"src/module_{n % 97}.py"}}
        event |= {"evaluated_permission": "allow", "evaluation": {"type": "always_allow"}}
    elif kind == "agent.tool_result":
        event |= {"tool_use_id": f"sevt_{n - 1:026x}", "is_error": False,
                  "content": [{"type": "text", "text": "def handler(): pass\n" * 60}]}  # fmt: skip
    elif kind == "session.usage":
        event["usage"] = {"input_tokens": n, "output_tokens": n // 4,
                          "list_cost": {"amount": str(n // 100), "currency": "USD"}}  # fmt: skip
    elif kind == "session.status_idle":
        event["stop_reason"] = {"type": "end_turn"}
    return event


def _line(record: EventRecord) -> bytes:
    envelope = {"session_id": record.session_id,
                "agent_id": record.headers["ce_agentid"].decode(),
                "kafka_partition": record.partition, "kafka_offset": record.offset}  # fmt: skip
    head = orjson.dumps(envelope)[:-1]
    return head + b',"event":' + record.raw + b"}\n"


def _doc_query() -> str:
    text = DOC.read_text().split("## Querying", 1)[1]
    match = re.search(r"### Tokens per agent per day\n.*?```sql\n(.*?)```", text, re.DOTALL)
    assert match, "docs/ARCHIVE.md has no 'Tokens per agent per day' query"
    return match.group(1)


def _jsonl_query(directory: Path) -> list[tuple[Any, ...]]:
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    con = duckdb.connect(":memory:", config=config)
    try:
        con.execute("SET TimeZone = 'UTC'")
        table = con.sql(JSONL_SQL.format(files=directory / "*.jsonl")).to_arrow_table()
        return [tuple(row.values()) for row in table.to_pylist()]
    finally:
        con.close()


def _timed(run: Callable[[], Any], repeat: int) -> tuple[Any, tuple[float, float]]:
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return result, (statistics.median(walls), statistics.median(cpus))


def _norm(rows: list[tuple[Any, ...]]) -> list[tuple[str, ...]]:
    return [tuple(str(int(v)) if isinstance(v, float | int) else str(v) for v in r) for r in rows]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


if __name__ == "__main__":
    main()
