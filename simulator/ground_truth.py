"""The record of every persisted event, in persistence order, for proving nothing was lost.

Kept in memory (for `Simulator.ground_truth()` and `GET /_sim/ground_truth`) and, when a path is
configured, appended to a JSONL file as events are persisted (flushed on a short interval and
on stop, so a benchmark can read it while the simulator runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import orjson


class GroundTruth:
    """Append-only list of (session_id, event_id, type, processed_at)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.rows: list[tuple[str, str, str, str]] = []
        self._file: IO[bytes] | None = None

    def start(self) -> None:
        if self.path is not None and self._file is None:
            self._file = self.path.open("ab")

    def stop(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def record(self, session_id: str, event_id: str, event_type: str, processed_at: str) -> None:
        row = (session_id, event_id, event_type, processed_at)
        self.rows.append(row)
        if self._file is not None:
            self._file.write(orjson.dumps(as_dict(row)) + b"\n")

    def select(self, session_id: str | None = None) -> list[dict[str, Any]]:
        return [as_dict(row) for row in self.rows if session_id is None or row[0] == session_id]

    def jsonl(self, session_id: str | None = None) -> bytes:
        return b"".join(orjson.dumps(row) + b"\n" for row in self.select(session_id))


def as_dict(row: tuple[str, str, str, str]) -> dict[str, Any]:
    return {"session_id": row[0], "event_id": row[1], "type": row[2], "processed_at": row[3]}
