"""`/metrics` from the stored per-partition aggregates, rendered straight to the exposition text.

Each series carries the `partition` it was counted from, so a partition that moves to another
replica takes its series' values along (they never go backwards; see docs/METRICS.md). A
partition this replica no longer owns has no series here.

prometheus_client's generic rendering (a Sample tuple per series, label names validated and
values escaped per sample) costs ~6 µs a series; with every vocabulary populated a partition
has ~460 series, so the families are rendered here with cached label strings instead (the text
is the same, in both the Prometheus text format and OpenMetrics).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

from prometheus_client.utils import floatToGoString

from consumers.metrics.state import COUNTERS, HISTOGRAMS, Snapshot
from consumers.metrics.vocab import SESSION_STATUSES

HELP = {
    "agents_model_tokens": "Tokens the fleet's model requests used (span.model_request_end "
    "model_usage and outcome evaluations' usage), by token type and model.",
    "agents_cost_usd": "Cost in USD: the API's list_cost (deltas of each session's session.usage "
    "snapshots) where present, else estimated from the price table.",
    "agents_cost_estimated_usd": "Cost in USD estimated from the price table for every model "
    "request, whatever the API reports.",
    "agents_events": "Session events, by type (unknown types: other).",
    "agents_sessions_ended": "Sessions that ended (session.status_terminated or session.deleted).",
    "agents_session_errors": "session.error events, by error type and retry status.",
    "agents_tool_uses": "Tool uses, by tool and evaluated permission.",
    "agents_tool_errors": "Tool results with is_error, by tool.",
    "agents_stop_reasons": "session.status_idle events, by stop reason.",
    "agents_approval_decisions": "Answers to gated tool uses from the approval bot's audit "
    "records, by decision and who decided.",
    "agents_metrics_problems": "Bad input the metrics consumer counted, by problem.",
    "agents_model_request_duration_seconds": "Model requests, span start to end.",
    "agents_turn_duration_seconds": "Turns, session.status_running to session.status_idle.",
    "agents_approval_wait_seconds": "Gated tool use to its user.tool_confirmation.",
    "agents_sessions": "Live sessions, by status (running, idle, rescheduling).",
    "agents_approvals_pending": "Gated tool uses waiting for an answer.",
    "agents_approval_oldest_pending_seconds": "Age of the oldest unanswered gated tool use "
    "(0 when none waits).",
}
_GAUGES = ("agents_sessions", "agents_approvals_pending", "agents_approval_oldest_pending_seconds")


def _go(value: float) -> str:
    """A float as Prometheus writes it (`1.0`, `+Inf`): bucket bounds match its own clients'."""
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class Exposition:
    """Renders the snapshots of every registered source (one per consumer of this process)."""

    def __init__(self) -> None:
        self.sources: list[tuple[str, Mapping[int, Snapshot]]] = []
        self._labels: dict[tuple[str, tuple[str, ...]], str] = {}  # (metric, values) -> 'a="x",'
        self._buckets = {
            name: [f'le="{_go(b)}",' for b in (*bounds, float("inf"))]
            for name, bounds in HISTOGRAMS.items()
        }

    def add_source(self, prefix: str, exported: Mapping[int, Snapshot]) -> None:
        """Export `exported` (partition -> snapshot); `prefix` goes before partition numbers."""
        self.sources.append((prefix, exported))

    def remove_source(self, exported: Mapping[int, Snapshot]) -> None:
        """Stop exporting a source."""
        self.sources = [(p, e) for p, e in self.sources if e is not exported]

    def render(self, openmetrics: bool = False) -> bytes:
        """Every family, from the stored snapshots (OpenMetrics without its `# EOF`)."""
        snapshots = [(f'partition="{prefix}{p}"', snap) for prefix, exported in self.sources
                     for p, snap in list(exported.items())]  # fmt: skip
        lines: list[str] = []
        for name, labels in COUNTERS.items():
            lines += self._counter(name, labels, snapshots, openmetrics)
        for name in HISTOGRAMS:
            lines += self._histogram(name, snapshots)
        lines += self._gauges([(p, s) for p, s in snapshots if "approvals" not in p])
        return "".join(lines).encode()

    def _counter(
        self,
        name: str,
        labels: tuple[str, ...],
        snapshots: list[tuple[str, Snapshot]],
        openmetrics: bool,
    ) -> Iterator[str]:
        family = name if openmetrics else f"{name}_total"
        yield f"# HELP {family} {HELP[name]}\n# TYPE {family} counter\n"
        cache = self._labels
        for partition, snap in snapshots:
            for key, value in snap.counters.get(name, {}).items():
                text = cache.get((name, key))
                if text is None:
                    text = cache[(name, key)] = "".join(
                        f'{label}="{_escape(v)}",' for label, v in zip(labels, key, strict=True)
                    )
                yield f"{name}_total{{{text}{partition}}} {float(value)!r}\n"

    def _histogram(self, name: str, snapshots: list[tuple[str, Snapshot]]) -> Iterator[str]:
        yield f"# HELP {name} {HELP[name]}\n# TYPE {name} histogram\n"
        buckets = self._buckets[name]
        for partition, snap in snapshots:
            hist = snap.histograms[name]
            if not any(hist.counts) and partition.startswith('partition="approvals'):
                continue
            running = 0
            for le, count in zip(buckets, hist.counts, strict=True):
                running += count
                yield f"{name}_bucket{{{le}{partition}}} {float(running)!r}\n"
            yield f"{name}_count{{{partition}}} {float(running)!r}\n"
            yield f"{name}_sum{{{partition}}} {float(hist.sum)!r}\n"

    @staticmethod
    def _gauges(snapshots: list[tuple[str, Snapshot]]) -> Iterator[str]:
        now = time.time()
        heads = {n: f"# HELP {n} {HELP[n]}\n# TYPE {n} gauge\n" for n in _GAUGES}
        yield heads["agents_sessions"]
        for partition, snap in snapshots:
            for status in SESSION_STATUSES:
                count = float(snap.sessions.get(status, 0))
                yield f'agents_sessions{{status="{status}",{partition}}} {count!r}\n'
        yield heads["agents_approvals_pending"]
        for partition, snap in snapshots:
            yield f"agents_approvals_pending{{{partition}}} {float(snap.pending)!r}\n"
        yield heads["agents_approval_oldest_pending_seconds"]
        for partition, snap in snapshots:
            age = 0.0 if snap.oldest_pending is None else max(0.0, now - snap.oldest_pending)
            yield f"agents_approval_oldest_pending_seconds{{{partition}}} {age!r}\n"


_EXPOSITION: Exposition | None = None


def exposition() -> Exposition:
    """The process's exposition, added to the HTTP server's `/metrics` on first use."""
    global _EXPOSITION  # noqa: PLW0603 - one per process
    if _EXPOSITION is None:
        from consumers import http  # noqa: PLC0415 - aiohttp only when serving

        _EXPOSITION = Exposition()
        http.RENDERERS.append(_EXPOSITION.render)
    return _EXPOSITION
