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


class _Clock:
    """A settable clock for the retention tests."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _finished(session_id: str, processed_at: str = "2026-01-01T00:00:01Z") -> Checkpoint:
    return Checkpoint(session_id, processed_at, ("a",), finished=True)


def test_a_finished_session_is_forgotten_after_the_retention() -> None:
    """Committed as finished, a session is remembered for the retention, then `expire` drops it
    and names it for a tombstone; a live session is never forgotten."""
    clock = _Clock()
    book = CheckpointBook(retention_secs=60, clock=clock)
    book.commit({"done": _finished("done"), "live": Checkpoint("live", "2026-01-01T00:00:01Z", ())})
    clock.now += 59
    kept = book.expire({})
    clock.now += 2
    forgotten = book.expire({})

    assert ([], ["done"], {"live"}) == (kept, forgotten, set(book.committed))


def test_loaded_finished_sessions_expire_by_their_last_event() -> None:
    """Loaded from the topic, a finished session's end is its last event's time."""
    at = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    old = _finished("old", "2026-01-01T00:00:00Z")
    recent = _finished("recent", "2026-01-01T00:10:00Z")
    loaded = {"recent": recent, "old": old}
    book = CheckpointBook(loaded, retention_secs=300, clock=_Clock(at + 400))

    assert (["old"], {"recent"}) == (book.expire({}), set(book.committed))


def test_a_session_in_the_batch_being_staged_is_not_forgotten() -> None:
    """A finished session with new events in the staged batch is left to that batch's commit,
    so its new checkpoint is never followed by a tombstone."""
    clock = _Clock()
    book = CheckpointBook(retention_secs=1, clock=clock)
    book.commit({"s": _finished("s")})
    clock.now += 5
    staged = book.stage([_event("b", "2026-01-01T00:00:09Z", session_id="s")])
    forgotten = book.expire(staged)
    book.commit(staged)
    clock.now += 5

    assert ([], False, []) == (forgotten, book.committed["s"].finished, book.expire({}))


def test_without_a_retention_nothing_is_forgotten() -> None:
    """`retention_secs=None` keeps every checkpoint (the book as it was)."""
    clock = _Clock()
    book = CheckpointBook(clock=clock)
    book.commit({"s": _finished("s")})
    clock.now += 10**9

    assert ([], 1) == (book.expire({}), book.finished)
