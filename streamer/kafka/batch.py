"""Turning buffered items into one batch, kept and reused across retries.

A batch keeps its events, not their records: each event's record (its header list) is built as it
is handed to the producer and dropped right after, so the objects that live until the commit are
only the events themselves (far fewer for the garbage collector to scan again and again).

An event too large for the events topic goes to the dead-letter topic instead, in the same
transaction, and still advances its session's checkpoint: it was dealt with, and a restart must not
route it again. The checkpoints of sessions the book forgets (ended longer ago than the retention)
are deleted in the same transaction, by tombstones.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import structlog

from streamer.events import Checkpoint, SessionEvent
from streamer.kafka import metrics
from streamer.kafka.buffer import Item
from streamer.kafka.checkpoints import CheckpointBook
from streamer.kafka.records import DLQ_REASON_TOO_LARGE, OutRecord, RecordFormat

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Batch:
    """The events of one transaction, its dead letters, and the checkpoints they commit."""

    events: list[SessionEvent]  # for the events topic, in order
    dead_letter_records: list[OutRecord]
    checkpoint_records: list[OutRecord]
    staged: dict[str, Checkpoint]
    items: int
    oldest_at: float
    event_bytes: int = 0
    dead_letters: list[SessionEvent] = field(default_factory=list)
    # Where one of its records landed once committed (exactly-once mode), and whether a
    # read_committed read has confirmed it since.
    marker: tuple[str, int, int] | None = None
    verified: bool = False

    @classmethod
    def empty(cls) -> Batch:
        """A batch of nothing: written after a lost commit, it carries the rewrite alone."""
        return cls([], [], [], {}, items=0, oldest_at=time.monotonic())

    def event_records(self, record_format: RecordFormat) -> Iterator[OutRecord]:
        """The records for the events and dead-letter topics, built as they are consumed."""
        event_record = record_format.event_record
        for event in self.events:
            yield event_record(event)
        yield from self.dead_letter_records

    def then(self, later: Batch) -> Batch:
        """This batch's records followed by `later`'s, for writing both in one transaction."""
        return Batch(
            events=[*self.events, *later.events],
            dead_letter_records=[*self.dead_letter_records, *later.dead_letter_records],
            checkpoint_records=[*self.checkpoint_records, *later.checkpoint_records],
            staged=later.staged,
            items=later.items,
            oldest_at=later.oldest_at,
        )

    def record_metrics(self) -> None:
        """Count a committed batch (called once, after success, so retries count nothing)."""
        metrics.RECORDS.labels(topic_kind="events").inc(len(self.events))
        metrics.RECORD_BYTES.labels(topic_kind="events").inc(self.event_bytes)
        metrics.RECORDS.labels(topic_kind="checkpoints").inc(len(self.checkpoint_records))
        metrics.TRANSACTIONS.labels(outcome="committed").inc()
        metrics.BATCH_EVENTS.observe(len(self.events) + len(self.dead_letter_records))
        for event in self.dead_letters:
            metrics.RECORDS.labels(topic_kind="dead_letter").inc()
            metrics.DEAD_LETTERS.labels(reason=DLQ_REASON_TOO_LARGE).inc()
            log.warning(
                "event_dead_lettered",
                reason=DLQ_REASON_TOO_LARGE,
                session_id=event.session_id,
                event_id=event.event_id,
                event_type=event.type,
                size_bytes=len(event.raw),
            )


def prepare_batch(
    items: list[Item],
    oldest_at: float,
    record_format: RecordFormat,
    book: CheckpointBook,
    limits: dict[str, int],
) -> Batch:
    """The records for `items` in their order, then the touched sessions' new checkpoints."""
    events_limit = limits.get(record_format.events_topic, 1_000_000)
    dlq_limit = limits.get(record_format.dead_letter_topic, events_limit)
    events: list[SessionEvent] = []
    dead_records: list[OutRecord] = []
    dead: list[SessionEvent] = []
    event_bytes = 0
    event_size = record_format.event_size
    for item in items:
        if not isinstance(item, SessionEvent):
            continue
        if event_size(item) > events_limit:
            dead.append(item)
            dead_records.append(record_format.dead_letter(item, DLQ_REASON_TOO_LARGE, dlq_limit))
        else:
            events.append(item)
            event_bytes += len(item.raw)
    staged = book.stage(items)
    checkpoint_records = [record_format.checkpoint_record(c) for c in staged.values()]
    forgotten = book.expire(staged)
    checkpoint_records += [record_format.checkpoint_tombstone(sid) for sid in forgotten]
    return Batch(
        events=events,
        dead_letter_records=dead_records,
        checkpoint_records=checkpoint_records,
        staged=staged,
        items=len(items),
        oldest_at=oldest_at,
        event_bytes=event_bytes,
        dead_letters=dead,
    )
