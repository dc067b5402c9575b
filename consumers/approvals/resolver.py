"""The resolver: a task that sends what the handler does not — people's decisions, timeouts —
and retries answers whose outcome was unknown. It acts only for partitions this replica owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time

import structlog

from consumers.approvals import metrics
from consumers.approvals.answer import Answerer
from consumers.approvals.config import ApprovalSettings
from consumers.approvals.model import ANSWERING, DECIDED, ESCALATED, TERMINAL, Entry
from consumers.approvals.notify import Notifier
from consumers.approvals.state import StateStore

log = structlog.get_logger(__name__)

EXPIRY_INTERVAL_SECS = 60.0


class Resolver:
    """Owns the resolver task and the notification tasks; `start`/`stop`."""

    def __init__(self, state: StateStore, answerer: Answerer, settings: ApprovalSettings) -> None:
        self._state = state
        self._answerer = answerer
        self._settings = settings
        self.owned: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._notifications: set[asyncio.Task[None]] = set()
        self._retry_at: dict[str, float] = {}
        self._next_expiry = 0.0  # when the next sweep looks for closed entries to forget
        state.listeners.append(self._on_change)

    async def start(self) -> None:
        """Start the loop; safe twice."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="approvals-resolver")

    async def stop(self) -> None:
        """End the loop and pending notifications; safe twice."""
        tasks = [t for t in (self._task, *self._notifications) if t is not None]
        self._task = None
        self._notifications.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def notify(self, entry: Entry, notifier: Notifier) -> None:
        """Send the escalation notification in a task this resolver owns."""
        task = asyncio.create_task(notifier.escalated(entry))
        self._notifications.add(task)
        task.add_done_callback(self._notifications.discard)

    def _on_change(self, entry: Entry) -> None:
        if entry.status == DECIDED:
            self._wake.set()

    async def _loop(self) -> None:
        interval = self._settings.resolver_interval_ms / 1000
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            try:
                await self._sweep()
            except Exception:
                metrics.PROBLEMS.labels("resolver_error").inc()
                log.exception("approvals_resolver_failed")

    async def _sweep(self) -> None:
        now = time.time()
        if now >= self._next_expiry:  # closed entries are many and expire in days: seldom
            self._next_expiry = now + EXPIRY_INTERVAL_SECS
            for entry in list(self._state.entries()):
                if self._expired(entry, now):
                    await self._state.forget(entry.tool_use_id)
        pending = 0
        for entry in list(self._state.open_entries()):
            pending += entry.status == ESCALATED
            if entry.partition not in self.owned or self._retry_at.get(entry.tool_use_id, 0) > now:
                continue
            due = self._due(entry, now)
            if due is not None:
                self._retry_at[entry.tool_use_id] = now + 5.0
                still_due = functools.partial(self._still_due, entry)
                stored = await self._answerer.answer(due, still_due)
                if stored.status != ANSWERING:
                    self._retry_at.pop(entry.tool_use_id, None)
        metrics.PENDING.set(pending)

    def _still_due(self, entry: Entry) -> bool:
        """Still ours and unchanged since the sweep picked it (a person may have decided, or a
        rebalance moved the session, while we waited for the entry)."""
        return entry.partition in self.owned and self._state.get(entry.tool_use_id) is entry

    def _expired(self, entry: Entry, now: float) -> bool:
        """A closed entry of an owned session, older than the retention."""
        closed_at = entry.decided_at or entry.seen_at
        return (
            entry.status in TERMINAL
            and entry.partition in self.owned
            and closed_at + self._settings.retention_secs < now
        )

    def _due(self, entry: Entry, now: float) -> Entry | None:
        if entry.status in (DECIDED, ANSWERING):
            return entry
        if entry.status == ESCALATED and entry.deadline and entry.deadline <= now:
            metrics.DECISIONS.labels("deny", "timeout").inc()
            log.info("approval_timed_out", tool_use_id=entry.tool_use_id)
            return entry.with_(decision="deny", reason=self._settings.timeout_message,
                               decided_by="timeout", decided_at=now)  # fmt: skip
        return None
