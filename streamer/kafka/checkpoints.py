"""Per-session checkpoints: derived from what a batch carries, served once committed.

A checkpoint is the greatest `processed_at` published for a session plus every event id published
at exactly that instant (history can hold several events with one timestamp); catch-up asks for
`created_at[gte]=processed_at` and skips `boundary_ids`. An event older than the checkpoint (a late
echo) leaves it unchanged, so the resume point never moves backwards.

A finished session is remembered for `retention_secs` after it ended, then forgotten: its
checkpoint leaves memory and `expire` names it, so that the sink writes a tombstone for it and the
compacted topic forgets it too. So what the book holds is the live sessions plus those that ended
within the retention, however many sessions a process has seen over its uptime. (A forgotten
session that is announced again is not streamed twice: see `Follower`'s retention check.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from streamer.events import Checkpoint, SessionEvent
from streamer.kafka import metrics
from streamer.kafka.buffer import Item
from streamer.timestamps import instant, is_later


class CheckpointBook:
    """The committed checkpoints of the sessions remembered, and staging for the next batch."""

    def __init__(
        self,
        committed: Mapping[str, Checkpoint] | None = None,
        *,
        retention_secs: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`retention_secs`: how long a finished session is remembered (None: forever)."""
        self.committed: dict[str, Checkpoint] = dict(committed or {})
        self._retention = retention_secs
        self._clock = clock
        # Finished sessions -> when they ended (epoch seconds), oldest first: loaded ones by
        # their last event's time, then each one as its finish is committed.
        loaded = ((_ended_at(c, clock), sid) for sid, c in self.committed.items() if c.finished)
        self._ended: dict[str, float] = {sid: at for at, sid in sorted(loaded)}
        metrics.CHECKPOINTS_REMEMBERED.inc(len(self.committed))  # lanes of a fleet share it
        self._closed = False

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
        before = len(self.committed)
        self.committed.update(staged)
        if not self._closed:
            metrics.CHECKPOINTS_REMEMBERED.inc(len(self.committed) - before)
        now = self._clock()
        for session_id, checkpoint in staged.items():
            self._ended.pop(session_id, None)  # a finish moves to the end; an un-finish leaves
            if checkpoint.finished:
                self._ended[session_id] = now

    def expire(self, staged: Mapping[str, Checkpoint]) -> list[str]:
        """Forget the sessions that ended more than `retention_secs` ago, except those `staged`
        touches; returns their ids, whose checkpoint records are to be deleted (tombstoned)."""
        if self._retention is None:
            return []
        horizon = self._clock() - self._retention
        expired: list[str] = []
        for session_id, ended_at in self._ended.items():
            if ended_at >= horizon:
                break
            if session_id not in staged:
                expired.append(session_id)
        for session_id in expired:
            del self._ended[session_id]
            del self.committed[session_id]
        if not self._closed:
            metrics.CHECKPOINTS_REMEMBERED.dec(len(expired))
        metrics.CHECKPOINTS_FORGOTTEN.inc(len(expired))
        return expired

    def close(self) -> None:
        """Its sink stopped: the book no longer counts as remembered (it is still readable)."""
        if not self._closed:
            self._closed = True
            metrics.CHECKPOINTS_REMEMBERED.dec(len(self.committed))

    @property
    def finished(self) -> int:
        """How many finished sessions are remembered."""
        return len(self._ended)


def _ended_at(checkpoint: Checkpoint, clock: Callable[[], float]) -> float:
    """When a loaded finished session ended, as far as its checkpoint tells: its last event's
    time (now, when it has none)."""
    moment = instant(checkpoint.processed_at) if checkpoint.processed_at else None
    return moment.timestamp() if moment is not None else clock()


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
