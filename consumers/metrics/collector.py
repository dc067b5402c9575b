"""`/metrics` from the stored per-partition aggregates: a prometheus_client Collector.

Each series carries the `partition` it was counted from, so a partition that moves to another
replica takes its series' values along (they never go backwards; see docs/METRICS.md). A
partition this replica no longer owns has no series here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, Collector

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
}


class AggregatesCollector(Collector):
    """Exports the snapshots of every registered source (one per consumer of this process)."""

    def __init__(self) -> None:
        self.sources: list[tuple[str, Mapping[int, Snapshot]]] = []

    def add_source(self, prefix: str, exported: Mapping[int, Snapshot]) -> None:
        """Export `exported` (partition -> snapshot); `prefix` goes before partition numbers."""
        self.sources.append((prefix, exported))

    def remove_source(self, exported: Mapping[int, Snapshot]) -> None:
        """Stop exporting a source."""
        self.sources = [(p, e) for p, e in self.sources if e is not exported]

    def _snapshots(self) -> list[tuple[str, Snapshot]]:
        return [(f"{prefix}{p}", snap) for prefix, exported in self.sources
                for p, snap in list(exported.items())]  # fmt: skip

    def collect(self) -> Iterator[Metric]:
        """Every family, built from the stored snapshots."""
        snapshots = self._snapshots()
        for name, labels in COUNTERS.items():
            family = CounterMetricFamily(name, HELP[name], labels=[*labels, "partition"])
            for partition, snap in snapshots:
                for key, value in snap.counters.get(name, {}).items():
                    family.add_metric([*key, partition], value)
            yield family
        for name in HISTOGRAMS:
            yield self._histogram(name, snapshots)
        yield from self._gauges(snapshots)

    @staticmethod
    def _histogram(name: str, snapshots: list[tuple[str, Snapshot]]) -> Metric:
        family = HistogramMetricFamily(name, HELP[name], labels=["partition"])
        for partition, snap in snapshots:
            hist = snap.histograms[name]
            total = sum(hist.counts)
            if not total and partition.startswith("approvals"):
                continue
            buckets: list[Any] = []
            running = 0
            for bound, count in zip([*hist.bounds, float("inf")], hist.counts, strict=True):
                running += count
                buckets.append(("+Inf" if bound == float("inf") else str(bound), running))
            family.add_metric([partition], buckets, hist.sum)
        return family

    @staticmethod
    def _gauges(snapshots: list[tuple[str, Snapshot]]) -> Iterator[Metric]:
        sessions = GaugeMetricFamily(
            "agents_sessions", "Live sessions, by status (running, idle, rescheduling).",
            labels=["status", "partition"],
        )  # fmt: skip
        pending = GaugeMetricFamily(
            "agents_approvals_pending", "Gated tool uses waiting for an answer.",
            labels=["partition"],
        )  # fmt: skip
        oldest = GaugeMetricFamily(
            "agents_approval_oldest_pending_seconds",
            "Age of the oldest unanswered gated tool use (0 when none waits).",
            labels=["partition"],
        )
        now = time.time()
        for partition, snap in snapshots:
            if partition.startswith("approvals"):
                continue
            for status in SESSION_STATUSES:
                sessions.add_metric([status, partition], snap.sessions.get(status, 0))
            pending.add_metric([partition], snap.pending)
            age = 0.0 if snap.oldest_pending is None else max(0.0, now - snap.oldest_pending)
            oldest.add_metric([partition], age)
        yield from (sessions, pending, oldest)


_COLLECTOR: AggregatesCollector | None = None


def collector() -> AggregatesCollector:
    """The process's collector, registered with the default registry on first use."""
    global _COLLECTOR  # noqa: PLW0603 - one registration per process
    if _COLLECTOR is None:
        _COLLECTOR = AggregatesCollector()
        REGISTRY.register(_COLLECTOR)
    return _COLLECTOR
