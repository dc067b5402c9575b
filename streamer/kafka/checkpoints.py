"""Per-session checkpoints: derived from what a batch carries, served once committed.

A checkpoint is the greatest `processed_at` published for a session plus every event id published
at exactly that instant (history can hold several events with one timestamp); catch-up asks for
`created_at[gte]=processed_at` and skips `boundary_ids`. An event older than the checkpoint (a late
echo) leaves it unchanged, so the resume point never moves backwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from streamer.events import Checkpoint, SessionEvent
from streamer.kafka.buffer import Item
from streamer.timestamps import is_later


class CheckpointBook:
    """The committed checkpoints of every session seen, and staging for the next batch."""

    def __init__(self, committed: Mapping[str, Checkpoint] | None = None) -> None:
        self.committed: dict[str, Checkpoint] = dict(committed or {})

    def stage(self, items: Iterable[Item]) -> dict[str, Checkpoint]:
        """The new checkpoints of the sessions `items` touch, not yet committed."""
        drafts: dict[str, _Draft] = {}
        for item in items:
            draft = drafts.get(item.session_id)
            if draft is None:
                draft = drafts[item.session_id] = _Draft(self.committed.get(item.session_id))
            if isinstance(item, SessionEvent):
                draft.advance(item.processed_at, item.event_id)
            else:
                draft.finish()
        return {
            session_id: Checkpoint(session_id, d.processed_at, tuple(d.ids), finished=d.finished)
            for session_id, d in drafts.items()
            if d.changed
        }

    def commit(self, staged: Mapping[str, Checkpoint]) -> None:
        """Record that `staged` was committed to Kafka."""
        self.committed.update(staged)


class _Draft:
    """One session's checkpoint while a batch is staged: mutable, so that staging costs no new
    object per event; a `Checkpoint` is built once per session at the end."""

    __slots__ = ("changed", "finished", "ids", "processed_at")

    def __init__(self, current: Checkpoint | None) -> None:
        self.processed_at = current.processed_at if current is not None else ""
        self.ids = list(current.boundary_ids) if current is not None else []
        self.finished = current.finished if current is not None else False
        self.changed = False

    def advance(self, processed_at: str, event_id: str) -> None:
        """A later event moves the checkpoint; one at the same instant joins the boundary; an
        older one (a late echo) changes nothing, except that any event un-finishes a session."""
        if not self.processed_at or is_later(processed_at, self.processed_at):
            self.processed_at, self.ids = processed_at, [event_id]
        elif processed_at == self.processed_at and event_id not in self.ids:
            self.ids.append(event_id)
        elif not self.finished:
            return
        self.finished = False  # an event after `finish`: the session is followed again
        self.changed = True

    def finish(self) -> None:
        """The session ended after every event staged so far."""
        if not self.finished:
            self.finished = True
            self.changed = True
