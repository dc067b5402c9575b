"""`Tally`: a label-less Prometheus counter for per-event hot paths.

prometheus-client's `Counter.inc` takes a lock and validates its argument on every call, which
at tens of thousands of events per second is a measurable share of the streamer's CPU. A `Tally`
is a plain integer added to on the event loop's thread and read only when `/metrics` is scraped,
so it is exposed exactly like a `Counter` (a `<name>_total` sample of type counter). Use it only
where a counter is bumped once or more per event, and only from one thread.

    EVENTS = Tally("agents_streamer_events_received_total", "Events read")
    EVENTS.inc()
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class Tally(Collector):
    """A counter without labels whose `inc` is one integer addition."""

    def __init__(
        self, name: str, documentation: str, registry: CollectorRegistry | None = REGISTRY
    ) -> None:
        self.name = name.removesuffix("_total")
        self.documentation = documentation
        self.value: float = 0
        if registry is not None:
            registry.register(self)

    def inc(self, amount: float = 1) -> None:
        """Add `amount` (non-negative, by the caller's contract: this is the hot path)."""
        self.value += amount

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation)

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.value)
