"""Per-session checkpoints: derived from what a batch carries, served once committed.

A checkpoint is the greatest `processed_at` published for a session plus every event id published
at exactly that instant (history can hold several events with one timestamp); catch-up asks for
`created_at[gte]=processed_at` and skips `boundary_ids`. An event older than the checkpoint (a late
echo) leaves it unchanged, so the resume point never moves backwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from streamer.events import Checkpoint, SessionEvent
from streamer.kafka.buffer import Item


def is_later(candidate: str, current: str) -> bool:
    """True when RFC 3339 timestamp `candidate` is after `current`."""
    if len(candidate) == len(current):
        return candidate > current  # same shape: the string order is the time order
    try:
        return datetime.fromisoformat(candidate) > datetime.fromisoformat(current)
    except ValueError:
        return candidate > current


class CheckpointBook:
    """The committed checkpoints of every session seen, and staging for the next batch."""

    def __init__(self, committed: Mapping[str, Checkpoint] | None = None) -> None:
        self.committed: dict[str, Checkpoint] = dict(committed or {})

    def stage(self, items: Iterable[Item]) -> dict[str, Checkpoint]:
        """The new checkpoints of the sessions `items` touch, not yet committed."""
        staged: dict[str, Checkpoint] = {}
        for item in items:
            current = staged.get(item.session_id) or self.committed.get(item.session_id)
            if isinstance(item, SessionEvent):
                updated = _advance(current, item)
            else:
                updated = _finish(current, item.session_id)
            if updated is not current:
                staged[item.session_id] = updated
        return staged

    def commit(self, staged: Mapping[str, Checkpoint]) -> None:
        """Record that `staged` was committed to Kafka."""
        self.committed.update(staged)


def _advance(current: Checkpoint | None, event: SessionEvent) -> Checkpoint:
    if (
        current is None
        or not current.processed_at
        or is_later(event.processed_at, current.processed_at)
    ):
        return Checkpoint(event.session_id, event.processed_at, (event.event_id,))
    if event.processed_at == current.processed_at and event.event_id not in current.boundary_ids:
        return Checkpoint(
            event.session_id, current.processed_at, (*current.boundary_ids, event.event_id)
        )
    if current.finished:  # an event after `finish`: the session is followed again
        return Checkpoint(current.session_id, current.processed_at, current.boundary_ids)
    return current


def _finish(current: Checkpoint | None, session_id: str) -> Checkpoint:
    if current is None:
        return Checkpoint(session_id, "", (), finished=True)
    if current.finished:
        return current
    return Checkpoint(session_id, current.processed_at, current.boundary_ids, finished=True)
