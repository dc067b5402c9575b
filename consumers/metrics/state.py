"""The aggregates of one input partition: counters, histograms, live sessions, and the offset.

A `PartitionState` is what one record of the state topic holds (`to_json` / `from_json`); a
`Snapshot` is the read-only copy the `/metrics` collector exports once that record is stored.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import orjson

from consumers.metrics.vocab import SESSION_STATUSES

STATE_VERSION = 1

# Counter names (without `_total`) and their label names; all are per-partition aggregates.
COUNTERS: dict[str, tuple[str, ...]] = {
    "agents_model_tokens": ("token_type", "model"),
    "agents_cost_usd": ("model",),
    "agents_cost_estimated_usd": ("model",),
    "agents_events": ("type",),
    "agents_sessions_ended": (),
    "agents_session_errors": ("error_type", "retry_status"),
    "agents_tool_uses": ("tool", "permission"),
    "agents_tool_errors": ("tool",),
    "agents_stop_reasons": ("reason",),
    "agents_approval_decisions": ("decision", "decided_by"),
    "agents_metrics_problems": ("problem",),
}
# Histogram names and their bucket upper bounds (seconds).
HISTOGRAMS: dict[str, tuple[float, ...]] = {
    "agents_model_request_duration_seconds": (
        0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300,
    ),
    "agents_turn_duration_seconds": (0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
    "agents_approval_wait_seconds": (
        0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 14400, 86400,
    ),
}  # fmt: skip


class Histogram:
    """Bucket counts (not cumulative; the last one is +Inf), the sum and the count."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def copy(self) -> Histogram:
        """An independent copy."""
        other = Histogram(self.bounds)
        other.counts = list(self.counts)
        other.sum = self.sum
        return other


@dataclass(slots=True)
class Session:
    """What the consumer keeps about one live session (dropped when it ends)."""

    model: str = "other"
    status: str = "idle"
    running_since: float | None = None  # event time of the session.status_running
    spans: dict[str, float] = field(default_factory=dict)  # model request start id -> time
    tools: dict[str, str] = field(default_factory=dict)  # open tool use id -> tool label
    pending: dict[str, float] = field(default_factory=dict)  # gated tool use id -> time
    cost_covered: float = 0.0  # USD counted for this session so far (estimates + list_cost)
    list_cost: int = -1  # the last snapshot's list_cost (minor units); -1: none seen yet
    snapshot_tokens: int = 0  # the last snapshot's token sum (to see one go backwards)
    last_seen: float = 0.0  # Kafka timestamp (s) of the session's latest record

    def to_json(self) -> list[Any]:
        """Compact form for the state record."""
        return [self.model, self.status, self.running_since, self.spans, self.tools,
                self.pending, self.cost_covered, self.list_cost, self.snapshot_tokens,
                self.last_seen]  # fmt: skip

    @classmethod
    def from_json(cls, row: list[Any]) -> Session:
        """The inverse of `to_json`."""
        return cls(str(row[0]), str(row[1]), row[2], dict(row[3]), dict(row[4]), dict(row[5]),
                   float(row[6]), int(row[7]), int(row[8]),
                   float(row[9]) if len(row) > 9 else 0.0)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The stored aggregates of one partition, as `/metrics` exports them."""

    counters: dict[str, dict[tuple[str, ...], float]]
    histograms: dict[str, Histogram]
    sessions: dict[str, int]  # status -> live sessions
    pending: int
    oldest_pending: float | None  # event time of the oldest unanswered gated tool use


class PartitionState:
    """Everything counted from one input partition up to `next_offset`."""

    __slots__ = ("clock", "counters", "histograms", "mcp_servers", "next_offset", "recent",
                 "sessions", "swept_at")  # fmt: skip

    def __init__(self, next_offset: int | None = None) -> None:
        self.next_offset = next_offset  # None: nothing handled, start at the topic's beginning
        self.counters: dict[str, dict[tuple[str, ...], float]] = {name: {} for name in COUNTERS}
        self.histograms = {name: Histogram(bounds) for name, bounds in HISTOGRAMS.items()}
        self.sessions: dict[str, Session] = {}
        self.mcp_servers: set[str] = set()  # the `mcp__<server>` values admitted so far
        self.recent: dict[str, float] = {}  # audit records counted lately: key -> time
        self.clock = 0.0  # the greatest record timestamp (s) seen: the partition's "now"
        self.swept_at = 0.0  # when sessions were last expired (on `clock`)

    def expire(self, max_quiet_secs: float) -> int:
        """Forget sessions without a record for `max_quiet_secs` (by `clock`); how many."""
        horizon = self.clock - max_quiet_secs
        gone = [sid for sid, session in self.sessions.items() if session.last_seen < horizon]
        for sid in gone:
            del self.sessions[sid]
        self.swept_at = self.clock
        return len(gone)

    def inc(self, name: str, key: tuple[str, ...], amount: float = 1) -> None:
        """Add `amount` to the counter `name{key}`."""
        series = self.counters[name]
        series[key] = series.get(key, 0) + amount

    def snapshot(self) -> Snapshot:
        """A copy for export, with the gauges computed from the live sessions."""
        statuses = dict.fromkeys(SESSION_STATUSES, 0)
        pending, oldest = 0, None
        for session in self.sessions.values():
            statuses[session.status] = statuses.get(session.status, 0) + 1
            if session.pending:
                pending += len(session.pending)
                first = min(session.pending.values())
                oldest = first if oldest is None else min(oldest, first)
        return Snapshot(
            {name: dict(series) for name, series in self.counters.items()},
            {name: hist.copy() for name, hist in self.histograms.items()},
            statuses,
            pending,
            oldest,
        )

    def to_json(self, **identity: object) -> bytes:
        """The state record's value (with `identity`: group, topic, partition)."""
        return orjson.dumps(
            {
                "version": STATE_VERSION,
                **identity,
                "next_offset": self.next_offset,
                "counters": {
                    n: [[list(k), v] for k, v in s.items()] for n, s in self.counters.items()
                },
                "histograms": {n: [h.counts, h.sum] for n, h in self.histograms.items()},
                "sessions": {sid: s.to_json() for sid, s in self.sessions.items()},
                "mcp_servers": sorted(self.mcp_servers),
                "recent": self.recent,
                "clock": [self.clock, self.swept_at],
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> PartitionState:
        """Parse a state record; raises ValueError/KeyError/TypeError on a foreign one."""
        data = orjson.loads(raw)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError("not a metrics state record of this version")
        state = cls(data["next_offset"])
        for name, rows in data["counters"].items():
            if name in state.counters:
                state.counters[name] = {tuple(key): value for key, value in rows}
        for name, (counts, total) in data["histograms"].items():
            hist = state.histograms.get(name)
            if hist is not None and len(counts) == len(hist.counts):
                hist.counts, hist.sum = [int(c) for c in counts], float(total)
        state.sessions = {sid: Session.from_json(row) for sid, row in data["sessions"].items()}
        state.mcp_servers = set(data.get("mcp_servers", ()))
        state.recent = {str(k): float(v) for k, v in data.get("recent", {}).items()}
        state.clock, state.swept_at = (float(x) for x in data.get("clock", (0.0, 0.0)))
        return state
