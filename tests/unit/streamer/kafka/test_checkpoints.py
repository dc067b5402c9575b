"""Checkpoints derived from published events: greatest processed_at plus the ids at it."""

from __future__ import annotations

from streamer.events import Checkpoint, SessionEvent
from streamer.kafka.buffer import SessionFinished
from streamer.kafka.checkpoints import CheckpointBook


def _event(event_id: str, processed_at: str, session_id: str = "sesn_1") -> SessionEvent:
    return SessionEvent(session_id, event_id, "agent.message", processed_at, b"{}")


def test_checkpoint_is_the_latest_event() -> None:
    """A later event replaces the checkpoint with its own time and id."""
    staged = CheckpointBook().stage(
        [_event("a", "2026-01-01T00:00:01Z"), _event("b", "2026-01-01T00:00:02Z")]
    )

    assert {"sesn_1": Checkpoint("sesn_1", "2026-01-01T00:00:02Z", ("b",))} == staged


def test_events_sharing_a_timestamp_are_all_boundary_ids() -> None:
    """Events with the same processed_at accumulate in `boundary_ids`."""
    at = "2026-01-01T00:00:01Z"
    staged = CheckpointBook().stage([_event("a", at), _event("b", at)])

    assert Checkpoint("sesn_1", at, ("a", "b")) == staged["sesn_1"]


def test_an_older_event_leaves_the_checkpoint_unchanged() -> None:
    """A late event with an older processed_at never moves the resume point backwards."""
    newer = Checkpoint("sesn_1", "2026-01-01T00:00:05Z", ("n",))
    book = CheckpointBook({"sesn_1": newer})

    assert {} == book.stage([_event("old", "2026-01-01T00:00:01Z")])


def test_finish_marks_the_checkpoint_finished() -> None:
    """`finish` keeps the resume point and sets `finished`."""
    staged = CheckpointBook().stage(
        [_event("a", "2026-01-01T00:00:01Z"), SessionFinished("sesn_1")]
    )

    assert Checkpoint("sesn_1", "2026-01-01T00:00:01Z", ("a",), finished=True) == staged["sesn_1"]


def test_staged_checkpoints_are_served_only_after_commit() -> None:
    """Staging does not change the committed view; committing does."""
    book = CheckpointBook()
    staged = book.stage([_event("a", "2026-01-01T00:00:01Z")])
    before = dict(book.committed)
    book.commit(staged)

    assert ({}, staged) == (before, book.committed)
