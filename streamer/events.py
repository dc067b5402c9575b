"""The unit of work between a follower and a sink: one persisted event of one session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class SessionEvent(NamedTuple):
    """One persisted event as the API sent it, plus what routing needs without parsing.

    `raw` is the SSE `data:` payload (or the history item) byte for byte: subscribers get the
    event exactly as the API produced it, unknown types and fields included. An immutable tuple
    rather than a frozen dataclass: one is built per event, and a tuple builds in half the time.
    """

    session_id: str
    event_id: str
    type: str
    processed_at: str
    raw: bytes
    thread_id: str | None = None
    agent_id: str | None = None
    agent_model: str | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a session's publishing stands; what a (re)started follower resumes from.

    History is ordered by `processed_at`, and several events can share one timestamp, so the
    resume point is the greatest `processed_at` published plus the ids published at exactly that
    instant: catch-up asks for `created_at[gte]=processed_at` and skips `boundary_ids`.
    """

    session_id: str
    processed_at: str
    boundary_ids: tuple[str, ...]
    finished: bool = False
