"""`Discovery`: one pass pages every session created since the watermark, then the live ones.

A pass (spec §2.1) lists `GET /v1/sessions?created_at[gte]=<watermark>&order=asc` over **all**
statuses, following `next_page` to the end, so a session created and ended between two passes is
still followed (its follower reads the whole history and stops). It then lists the live statuses,
which finds sessions created before the watermark's first value (beyond the backfill window) that
are still running. Every id goes to `follow`, which is idempotent.

The watermark only moves past a session once `secured(session_id)` says losing this process can
no longer lose it (for the supervisor: its first events are committed, or it cannot be followed),
so a crash between a pass and the first commit of a session it found re-lists that session on the
next start. A session that stays unsecured for `hold_secs` (an idle session nobody writes to)
stops holding the watermark back; while it is live the live listing still finds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from streamer import telemetry
from streamer.api import ApiClient, ApiError
from streamer.discovery.watermark import Watermark, WatermarkStore
from streamer.follower import agent_id_of, agent_model_of
from streamer.timestamps import instant, is_later

log = structlog.get_logger("streamer.discovery")

# (session id, agent id, agent model) -> whether a follower was started. The supervisor's
# `follow` today; the join with the fleet's control topic swaps in an announcement.
Follow = Callable[[str, str | None, str | None], bool]
Secured = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class DiscoverySettings:
    """How often to pass, how far back a first start looks, how long a quiet session holds."""

    interval_secs: float = 30.0
    backfill_secs: float = 3600.0  # first start only: 0 = sessions created from now on (+ live)
    hold_secs: float = 3600.0
    page_limit: int = 100


class Discovery:
    """Runs discovery passes; the watermark is loaded on the first pass and saved after each."""

    def __init__(
        self,
        client: ApiClient,
        store: WatermarkStore,
        follow: Follow,
        secured: Secured,
        settings: DiscoverySettings | None = None,
    ) -> None:
        self._client = client
        self._store = store
        self._follow = follow
        self._secured = secured
        self.settings = settings or DiscoverySettings()
        self.watermark: Watermark | None = None
        self._loaded = False
        self._pending: dict[str, str] = {}  # found, not yet secured: session id -> created_at

    async def run_pass(self) -> int:
        """One pass; returns how many followers it started. API errors end the pass early
        (counted as `discovery_failed`); what it found up to then still counts."""
        if not self._loaded:
            self.watermark = await self._store.load() or self._first_watermark()
            self._loaded = True
            log.info("discovery_watermark_loaded", created_at=self.watermark.created_at)
        assert self.watermark is not None
        started, newest = 0, self.watermark
        try:
            started, newest = await self._page_created(self.watermark)
            started += await self._poll_live()
        except ApiError as exc:
            telemetry.error("discovery_failed", reason=exc.reason)
        await self._advance(newest)
        return started

    def _first_watermark(self) -> Watermark:
        since = time.time() - self.settings.backfill_secs
        stamp = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        log.info("discovery_backfill", since=stamp, backfill_secs=self.settings.backfill_secs)
        return Watermark(stamp)

    async def _page_created(self, mark: Watermark) -> tuple[int, Watermark]:
        started, newest = 0, mark
        sessions = self._client.list_sessions(
            statuses=(), created_at_gte=mark.created_at, order="asc",
            limit=self.settings.page_limit,
        )  # fmt: skip
        async for session in sessions:
            session_id, created_at = session.get("id"), session.get("created_at")
            if not (isinstance(session_id, str) and session_id and isinstance(created_at, str)):
                continue
            if created_at == mark.created_at and session_id in mark.ids:
                continue  # the boundary of the last pass: read again, acted on once
            started += self._found(session_id, session)
            if not self._secured(session_id):
                self._pending[session_id] = created_at
            newest = _later_of(newest, created_at, session_id)
        return started, newest

    async def _poll_live(self) -> int:
        started = 0
        async for session in self._client.list_sessions(limit=self.settings.page_limit):
            session_id = session.get("id")
            if isinstance(session_id, str) and session_id:
                started += self._found(session_id, session)
        return started

    def _found(self, session_id: str, session: dict[str, Any]) -> bool:
        return self._follow(session_id, agent_id_of(session), agent_model_of(session))

    async def _advance(self, newest: Watermark) -> None:
        """Save the newest watermark the unsecured sessions allow, if it moved."""
        held = self._holding()
        target = newest
        if held is not None and is_later(newest.created_at, held):
            target = Watermark(held)  # re-list from the oldest unsecured session, all of it
        if target == self.watermark:
            return
        try:
            await self._store.save(target)
        except Exception as exc:  # noqa: BLE001 - the store's errors vary; next pass retries
            telemetry.error("discovery_watermark_failed", error_type=type(exc).__name__)
            return
        self.watermark = target

    def _holding(self) -> str | None:
        """The oldest `created_at` among found but unsecured sessions (after forgetting those
        secured since, and those older than `hold_secs`)."""
        cutoff = time.time() - self.settings.hold_secs
        oldest: str | None = None
        for session_id, created_at in list(self._pending.items()):
            moment = instant(created_at)
            if self._secured(session_id) or moment is None or moment.timestamp() < cutoff:
                del self._pending[session_id]
            elif oldest is None or is_later(oldest, created_at):
                oldest = created_at
        return oldest


def _later_of(mark: Watermark, created_at: str, session_id: str) -> Watermark:
    if is_later(created_at, mark.created_at):
        return Watermark(created_at, (session_id,))
    if created_at == mark.created_at and session_id not in mark.ids:
        return Watermark(created_at, (*mark.ids, session_id))
    return mark
