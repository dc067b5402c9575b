"""A person's decision on an escalation: written to the state topic as `decided`, once.

The first decision wins. Decisions arriving at this replica are taken one at a time and the
entry is re-read under that lock, so a second decision (two reviewers clicking together) is told
who decided first instead of replacing it. The replica owning the session's partition sends the
answer through the resolver, exactly once, as for every other answer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from consumers.approvals import metrics
from consumers.approvals.model import DECIDED, ESCALATED, Entry
from consumers.approvals.state import StateStore

MAX_TEXT = 2_000
DEFAULT_DENY_MESSAGE = "Denied by a reviewer."


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a decision: 202 stored, 404 unknown, 409 decided before (`entry` shows
    by whom)."""

    status: int
    entry: Entry | None

    @property
    def message(self) -> str:
        """The error message for a refused decision."""
        if self.entry is None:
            return "no such tool use"
        return f"already decided by {already_by(self.entry)} (status {self.entry.status})"


def already_by(entry: Entry) -> str:
    """Who settled an entry that is no longer waiting, as the page says it."""
    if entry.status == "session_gone":
        return "the session ending"
    return entry.decided_by or "someone else"


class Decider:
    """Stores people's decisions, first one wins (per replica; see the module docstring)."""

    def __init__(self, state: StateStore) -> None:
        self._state = state
        self._lock = asyncio.Lock()

    async def decide(
        self, tool_use_id: str, decision: str, decided_by: str, note: str, message: str
    ) -> Outcome:
        """Record `decision` ("allow" | "deny") by `decided_by` ("human:NAME")."""
        async with self._lock:
            entry = self._state.get(tool_use_id)
            if entry is None or entry.status != ESCALATED:
                return Outcome(404 if entry is None else 409, entry)
            note = note[:MAX_TEXT] or ""
            deny_message = (message or note or DEFAULT_DENY_MESSAGE)[:MAX_TEXT]
            stored = await self._state.put(entry.with_(
                status=DECIDED, decision=decision, decided_by=decided_by[:MAX_TEXT],
                decided_note=note or None, reason=deny_message if decision == "deny" else None,
                decided_at=time.time(), rule=None,
            ))  # fmt: skip
        if stored.decided_by != decided_by[:MAX_TEXT]:  # the table kept an earlier, terminal one
            return Outcome(409, stored)
        metrics.DECISIONS.labels(decision, "human").inc()
        return Outcome(202, stored)
