"""Reading each committed batch back: the sink's guard against a commit reported but lost.

`commit_transaction()` returning is not proof that a transaction's records will be read: across a
broker restart a transaction reported committed has been seen aborted later (RECORDS.md, Known
issues). So the sink keeps the last committed batch here until it is confirmed *visible* (one of
its records read back `read_committed`, `VisibilityCheck`):

- while the next batch is being sent, `confirm_last` checks it; the next commit waits for that
  check and does not happen unless it passed (the flusher's retry takes over);
- after a failure, on a restarted producer (which settles the transaction in doubt either way),
  `lost_last` says whether it must be written again, ahead of what follows;
- at stop, the sink checks the last one once more.

Only in exactly-once mode; at least once, every batch counts as visible.
"""

from __future__ import annotations

import structlog

from streamer.kafka import metrics
from streamer.kafka.batch import Batch
from streamer.kafka.config import KafkaSettings
from streamer.kafka.errors import SinkTransientError
from streamer.kafka.visibility import Visibility, VisibilityCheck
from streamer.kafka.writers import Marker
from streamer.resource import AsyncResource

log = structlog.get_logger("streamer.kafka.sink")

# How long a read-back may wait once a restarted producer has settled the transaction in doubt.
SETTLED_CHECK_TIMEOUT_S = 30.0


class ReadBack(AsyncResource):
    """The last committed batch, until it is confirmed visible; `enabled=False`: no checks."""

    def __init__(self, kafka: KafkaSettings, *, enabled: bool, timeout_s: float) -> None:
        self._check = VisibilityCheck(kafka) if enabled else None
        self._timeout_s = timeout_s
        self.last: Batch | None = None

    async def start(self) -> None:
        if self._check is not None:
            await self._check.start()

    async def stop(self) -> None:
        if self._check is not None:
            await self._check.stop()

    def committed(self, batch: Batch) -> None:
        """`batch` is the last committed one now (to be confirmed)."""
        self.last = batch

    async def check_last(self) -> Visibility:
        """Whether the last committed batch is readable (VISIBLE when there is nothing to check)."""
        last = self.last
        if self._check is None or last is None or last.marker is None or last.verified:
            return Visibility.VISIBLE
        visibility = await self._check.check(last.marker, self._timeout_s)
        last.verified = visibility is Visibility.VISIBLE
        return visibility

    async def confirm_last(self) -> None:
        """Raise (so that the open transaction is not committed) unless the last batch is
        visible: the retry settles whether it was lost and writes it again if so."""
        visibility = await self.check_last()
        if visibility is not Visibility.VISIBLE:
            raise SinkTransientError(f"the previous commit is {visibility.value}")

    async def settled(self, marker: Marker) -> bool:
        """Visible or lost, once a restarted producer has settled the transaction; raises (so the
        write is retried) while the broker cannot tell yet."""
        if self._check is None:
            return True
        visibility = await self._check.check(marker, SETTLED_CHECK_TIMEOUT_S)
        if visibility is Visibility.UNDETERMINED:
            raise SinkTransientError("a commit's outcome is not readable yet")
        return visibility is Visibility.VISIBLE

    async def lost_last(self) -> Batch | None:
        """After a failure, on a restarted producer: the last batch if it was lost (to be
        written again), None if it is visible."""
        last = self.last
        if last is None or last.marker is None or last.verified:
            return None
        if await self.settled(last.marker):
            last.verified = True
            return None
        metrics.ERRORS.labels(reason="commit_lost").inc()
        log.error("sink_commit_lost", rewriting_events=len(last.events), marker=last.marker)
        return last
