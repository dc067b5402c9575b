"""Sending one answer exactly once.

The protocol, per tool use id (always under the lock of the session's partition, so a rebalance
waits for an answer in flight):

1. A terminal entry is never answered again.
2. If a POST may already have reached the API (`attempted`), read the session's history first:
   a confirmation there means done.
3. Record the intent durably (`answering`, `attempted=True`) before the POST.
4. POST. Accepted: done; the outcome and audit records are written after the caller moved on
   (`bookkeeping`): the intent already covers a crash before they land. 404/409: the session is
   gone. Another 4xx: the call is no longer pending (answered by someone, interrupted) or the
   answer is invalid: done, never retried. A timeout,
   a connection error, 429 or 5xx: the outcome is unknown, so read history before retrying
   (except after 429, which means "not processed"). Still unknown after a few attempts: leave the
   entry `answering`; the resolver loop retries later, reading history first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

import structlog

from consumers.approvals import metrics
from consumers.approvals.api import BotApi, Sent
from consumers.approvals.audit import AuditLog
from consumers.approvals.config import ApprovalSettings
from consumers.approvals.errors import ApiError
from consumers.approvals.model import (
    ANSWERED,
    ANSWERED_ELSEWHERE,
    ANSWERING,
    REFUSED,
    SESSION_GONE,
    TERMINAL,
    Entry,
)
from consumers.approvals.state import StateStore
from consumers.gate import Gate

log = structlog.get_logger(__name__)

_OUTCOMES = {Sent.ACCEPTED: ANSWERED, Sent.GONE: SESSION_GONE, Sent.REFUSED: REFUSED}


class Answerer:
    """Sends `user.tool_confirmation`s through the protocol above."""

    def __init__(
        self, api: BotApi, state: StateStore, audit: AuditLog, settings: ApprovalSettings
    ) -> None:
        self._api = api
        self._state = state
        self._audit = audit
        self._settings = settings
        self._backoff_schedule = settings.backoff()
        self.gates: defaultdict[int, Gate] = defaultdict(Gate)  # revocation waits (exclusive)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # per tool use: lock, users
        self._bookkeeping: set[asyncio.Task[None]] = set()  # outcome records of sent answers

    async def drain(self) -> None:
        """Wait until the outcome records of the answers sent so far are written (or failed)."""
        while self._bookkeeping:
            await asyncio.gather(*self._bookkeeping, return_exceptions=True)

    @contextlib.asynccontextmanager
    async def hold(self, entry: Entry) -> AsyncIterator[None]:
        """Exclusive use of one tool use's entry; a revocation of its partition waits for it."""
        key = entry.tool_use_id
        async with self.gates[entry.partition].shared():
            lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
            self._locks[key] = (lock, users + 1)
            try:
                async with lock:
                    yield
            finally:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    async def answer(self, entry: Entry, owned: Callable[[], bool] | None = None) -> Entry:
        """Send `entry.decision` (allow | deny + reason) once; returns the entry as stored (for
        an accepted answer: as it will be, once its bookkeeping lands).

        `owned` is asked again once the entry is held (False: leave it): a rebalance may have
        moved the session to another replica, or the entry changed, while this one waited.
        """
        async with self.hold(entry):
            if owned is not None and not owned():
                return self._state.get(entry.tool_use_id) or entry
            return await self.answer_locked(entry)

    async def answer_locked(self, entry: Entry) -> Entry:
        """`answer`, for callers already inside `hold(entry)`."""
        current = self._state.get(entry.tool_use_id)
        if current is not None and current.status in TERMINAL:
            return current
        if current is not None and current.attempted:
            entry = entry.with_(attempted=True)
        earlier = entry.attempted  # an earlier POST (ours, before a crash) may have landed
        if earlier and await self._in_history(entry):
            return await self._finish(entry, ANSWERED)
        entry = await self._state.put(
            entry.with_(
                status=ANSWERING, attempted=True, decided_at=entry.decided_at or time.time()
            )
        )
        if entry.status in TERMINAL:
            return entry
        return await self._post(entry, earlier=earlier)

    async def _post(self, entry: Entry, *, earlier: bool) -> Entry:
        result = "allow" if entry.decision == "allow" else "deny"
        message = entry.reason if result == "deny" else None
        for attempt in range(1, self._settings.answer_attempts + 1):
            try:
                sent = await self._api.send_confirmation(
                    entry.session_id, entry.tool_use_id, result, message
                )
            except ApiError as exc:
                metrics.PROBLEMS.labels("api_error").inc()
                log.warning(
                    "confirmation_outcome_unknown",
                    tool_use_id=entry.tool_use_id,
                    session_id=entry.session_id,
                    status=exc.status,
                    attempt=attempt,
                )
                await self._backoff(attempt)
                if exc.status != 429 and await self._in_history(entry):
                    return await self._finish(entry, ANSWERED)
                earlier = True
                continue
            if sent is Sent.ACCEPTED:
                return self._finish_later(entry)
            if sent is Sent.REFUSED and await self._in_history(entry):
                return await self._finish(entry, ANSWERED if earlier else ANSWERED_ELSEWHERE)
            return await self._finish(entry, _OUTCOMES[sent])
        return entry  # still `answering`: the resolver retries, reading history first

    async def _in_history(self, entry: Entry) -> bool:
        try:
            return await self._api.confirmation_exists(entry.session_id, entry.tool_use_id)
        except ApiError:
            metrics.PROBLEMS.labels("history_check").inc()
            return False

    def _finish_later(self, entry: Entry) -> Entry:
        """Record an accepted answer without holding up the caller (the records behind it).

        The answer is sent and its intent (`answering`, `attempted`) is durable, so a crash
        before these records land is covered: whoever meets the entry next reads history first.
        """
        task = asyncio.create_task(self._finish_held(entry), name="approvals-bookkeeping")
        self._bookkeeping.add(task)
        task.add_done_callback(self._bookkeeping.discard)
        return entry.with_(status=ANSWERED)

    async def _finish_held(self, entry: Entry) -> None:
        try:
            async with self.hold(entry):
                current = self._state.get(entry.tool_use_id)
                if current is not None and current.status in TERMINAL:
                    return  # the confirmation's event (or a history check) recorded it first
                await self._finish(entry, ANSWERED)
        except Exception as exc:  # noqa: BLE001 - left `answering`: the resolver finishes it
            metrics.PROBLEMS.labels("bookkeeping_failed").inc()
            log.warning("answer_bookkeeping_failed", tool_use_id=entry.tool_use_id,
                        session_id=entry.session_id, error=type(exc).__name__)  # fmt: skip

    async def _finish(self, entry: Entry, outcome: str) -> Entry:
        final = entry.with_(status=outcome)
        # The record of the outcome and the audit record go out together: neither gates the
        # answer (already sent), and a crash before them is covered by the `answering` intent.
        stored, _ = await asyncio.gather(
            self._state.put(final), self._audit.publish(final, outcome)
        )
        metrics.OUTCOMES.labels(outcome).inc()
        if outcome == ANSWERED:
            by = (entry.decided_by or "policy").split(":", 1)[0]
            metrics.ANSWER_SECONDS.labels(by).observe(max(0.0, time.time() - entry.seen_at))
        else:
            log.warning("confirmation_not_delivered", tool_use_id=entry.tool_use_id,
                        session_id=entry.session_id, outcome=outcome)  # fmt: skip
        return stored

    async def _backoff(self, attempt: int) -> None:
        await asyncio.sleep(self._backoff_schedule.delay(attempt))
