"""`MetricsConsumer` (`streamer consume metrics`): the events topic as Prometheus metrics.

It runs a second runner inside itself for the approval bot's audit topic (its own consumer
group, `<group>.approvals`, and its own state records), and registers both with the process's
`/metrics` collector.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

import structlog

from consumers.base import ConsumerContext, EventRecord
from consumers.errors import BadRecordError
from consumers.metrics.audit import ApprovalAuditMetrics
from consumers.metrics.collector import exposition
from consumers.metrics.config import MetricsSettings
from consumers.metrics.fold import EventFold
from consumers.metrics.partitions import PartitionedAggregates
from consumers.metrics.prices import PriceTable
from consumers.metrics.state import PartitionState

log = structlog.get_logger(__name__)


class MetricsConsumer(PartitionedAggregates):
    """`streamer consume metrics [--metrics-price-file F] [--metrics-no-approvals]`."""

    name = "metrics"

    def __init__(self, settings: MetricsSettings | None = None) -> None:
        super().__init__(settings)
        self.prices = PriceTable.load(self.settings.price_file)
        self._fold = EventFold(self.prices, self.problems, self.settings.session_expiry_secs)
        self.audit: ApprovalAuditMetrics | None = None
        self._audit_runner: Any = None
        self._audit_task: asyncio.Task[None] | None = None

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """`--metrics-price-file`, `--metrics-flush-interval-ms`, `--metrics-no-approvals`."""
        parser.add_argument("--metrics-price-file", help="metrics: price table (TOML) to use")
        parser.add_argument("--metrics-flush-interval-ms", type=int,
                            help="metrics: how often aggregates are stored")  # fmt: skip
        parser.add_argument("--metrics-no-approvals", action="store_true",
                            help="metrics: do not consume the approvals audit topic")  # fmt: skip

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> MetricsConsumer:
        """Settings from the environment, overridden by the command line."""
        overrides: dict[str, Any] = {}
        if getattr(args, "metrics_price_file", None):
            overrides["price_file"] = args.metrics_price_file
        if getattr(args, "metrics_flush_interval_ms", None):
            overrides["flush_interval_ms"] = args.metrics_flush_interval_ms
        if getattr(args, "metrics_no_approvals", False):
            overrides["approvals"] = False
        return cls(MetricsSettings(**overrides))

    def parse_record(self, **fields: Any) -> EventRecord:
        """Parse as the runner does; a record that is not an event is counted, then refused."""
        try:
            return EventRecord.parse(**fields)
        except BadRecordError:
            partition, offset = int(fields["partition"]), int(fields["offset"])
            state = self.fresh(partition, offset)
            if state is not None:
                self.problems.report(state, "not_an_event", partition=partition, offset=offset)
                self.advance(partition, offset)
            raise

    def fold(self, state: PartitionState, record: EventRecord) -> None:
        """One session event into its partition's aggregates."""
        self._fold.apply(state, record)

    async def start(self, ctx: ConsumerContext) -> None:
        """The state store, the exporter, and the audit topic's runner."""
        await super().start(ctx)
        exposition().add_source("", self.exported)
        if self.settings.approvals:
            await self._start_audit(ctx)
        log.info("metrics_started", group_id=ctx.group_id, approvals=self.settings.approvals,
                 prices_checked=self.prices.checked.isoformat())  # fmt: skip

    async def _start_audit(self, ctx: ConsumerContext) -> None:
        from consumers.runner import Runner  # noqa: PLC0415 - the runner imports consumers

        self.audit = ApprovalAuditMetrics(self.settings)
        kafka = ctx.kafka.model_copy(update={"events_topic": ctx.kafka.approvals_topic})
        runner = Runner(self.audit, kafka=kafka, group_id=f"{ctx.group_id}.approvals")
        await runner.start()
        self._audit_runner = runner
        exposition().add_source("approvals-", self.audit.exported)
        self._audit_task = asyncio.create_task(runner.run(), name="metrics-approvals")

    async def stop(self) -> None:
        """Stop the audit runner, then store and close; safe twice."""
        task, self._audit_task = self._audit_task, None
        runner, self._audit_runner = self._audit_runner, None
        if runner is not None:
            runner.request_stop()
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runner.stop()
        if self.audit is not None:
            exposition().remove_source(self.audit.exported)
        exposition().remove_source(self.exported)
        await super().stop()
