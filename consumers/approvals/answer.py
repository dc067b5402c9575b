"""Sending one answer exactly once.

The protocol, per tool use id (always under the lock of the session's partition, so a rebalance
waits for an answer in flight):

1. A terminal entry is never answered again.
2. If a POST may already have reached the API (`attempted`), read the session's history first:
   a confirmation there means done.
3. Record the intent durably (`answering`, `attempted=True`) before the POST.
4. POST. Accepted: done. 404/409: the session is gone. Another 4xx: the call is no longer
   pending (answered by someone, interrupted) or the answer is invalid: done, never retried. A
   timeout,
   a connection error, 429 or 5xx: the outcome is unknown, so read history before retrying
   (except after 429, which means "not processed"). Still unknown after a few attempts: leave the
   entry `answering`; the resolver loop retries later, reading history first.

The handler uses `answer_soon`: it waits for step 3 only, and steps 4's POST and the outcome and
audit records run in a task that keeps the entry held (so a fetch batch, its offset commit and the
next fetch are not held up by the batch's slowest POST). The intent is durable before the handler
returns, hence before the record's offset is committed: a crash after that is covered by it.
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
        self._sending: set[asyncio.Task[None]] = set()  # `answer_soon`'s POSTs and records

    async def drain(self) -> None:
        """Wait until the answers started by `answer_soon` are sent and recorded (or failed)."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

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
        """Send `entry.decision` (allow | deny + reason) once; returns the entry as stored.

        `owned` is asked again once the entry is held (False: leave it): a rebalance may have
        moved the session to another replica, or the entry changed, while this one waited.
        """
        async with self.hold(entry):
            if owned is not None and not owned():
                return self._state.get(entry.tool_use_id) or entry
            prepared = await self._prepare(entry)
            if prepared is None:
                return self._state.get(entry.tool_use_id) or entry
            return await self._post(*prepared)

    async def answer_soon(self, entry: Entry) -> None:
        """`answer`, returning once the intent is durable (or the entry needs no POST); the POST
        and the outcome records follow in a task this answerer owns (`drain` waits for it).

        Raises what the intent's write raised (a Kafka error: the handler's caller retries).
        """
        intent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._answer_in_task(entry, intent), name="approvals-answer")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        await intent

    async def _answer_in_task(self, entry: Entry, intent: asyncio.Future[None]) -> None:
        try:
            async with self.hold(entry):
                prepared = await self._prepare(entry)
                intent.set_result(None)
                if prepared is not None:
                    await self._post(*prepared)
        except Exception as exc:  # noqa: BLE001 - the handler raises it, or the resolver retries
            if not intent.done():
                intent.set_exception(exc)
                return
            # Left `answering` (its intent is durable): the resolver finishes it, history first.
            metrics.PROBLEMS.labels("answer_failed").inc()
            log.warning("answer_failed_after_intent", tool_use_id=entry.tool_use_id,
                        session_id=entry.session_id, error=type(exc).__name__)  # fmt: skip
        finally:
            if not intent.done():  # cancelled before the intent was written
                intent.cancel()

    async def _prepare(self, entry: Entry) -> tuple[Entry, bool] | None:
        """Steps 1-3: None when the entry needs no POST (terminal, or found in history);
        otherwise the entry as recorded `answering`, and whether a POST may have landed before."""
        current = self._state.get(entry.tool_use_id)
        if current is not None and current.status in TERMINAL:
            return None
        if current is not None and current.attempted:
            entry = entry.with_(attempted=True)
        earlier = entry.attempted  # an earlier POST (ours, before a crash) may have landed
        if earlier and await self._in_history(entry):
            await self._finish(entry, ANSWERED)
            return None
        entry = await self._state.put(
            entry.with_(
                status=ANSWERING, attempted=True, decided_at=entry.decided_at or time.time()
            )
        )
        if entry.status in TERMINAL:
            return None
        return entry, earlier

    async def _post(self, entry: Entry, earlier: bool) -> Entry:
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
                return await self._finish(entry, ANSWERED)
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
