"""One `Follower` per session: stream first, then history, dedupe, publish in order.

The loop (spec §8): open the SSE stream, page history from the resume point, then read the
stream. Publication order is history order: everything up to the *watermark* (the greatest
`processed_at` published) has been published, and the ids published at exactly that instant are
kept, so dedupe needs no growing set — an event older than the watermark is a duplicate, one at
the watermark is checked against the boundary ids, one newer is new. Queued echoes
(`processed_at: null`) are never published: the processed copy of the same id follows. A frame
that cannot be decoded may have been an event, so it triggers a history catch-up before the next
frame is used, which keeps order. Any EOF or error reconnects with jittered backoff (0.5 s
doubling to a cap, reset by an event; `retry-after` wins); 401/403/404 end the follower with
`FollowerFatalError` (a 404 first marks the session finished: it is gone). Delta previews
(`event_start` / `event_delta`, which the client asks for when deltas are enabled) go to
`sink.publish_preview`, never through dedupe or the watermark. After `session.status_terminated`
or `session.deleted` it drains and calls `sink.finish`.

The retention check: the sink forgets a finished session's checkpoint once it ended longer ago
than `finished_retention_secs`. A follower that starts with no checkpoint therefore looks at the
session first: one that is terminated and was created before that window may be one streamed and
forgotten, and is not streamed again (`FollowerFatalError("ended_before_retention")`), so a late
webhook or a repeated `POST /follow` can never publish a session's events twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog

from streamer import telemetry
from streamer.api import ApiClient, ApiError
from streamer.backoff import Backoff
from streamer.events import Checkpoint, SessionEvent
from streamer.sink import Sink
from streamer.sse import Frame, FrameError, SSEDecoder, SSEError
from streamer.sse.parse import BadFrameError, StreamEvent, parse_frame
from streamer.sse.reader import read_frames
from streamer.timestamps import instant, is_later

log = structlog.get_logger("streamer.follower")

TERMINAL_TYPES = frozenset({"session.status_terminated", "session.deleted"})
PREVIEW_TYPES = frozenset({"event_start", "event_delta"})


class FollowerFatalError(Exception):
    """The session cannot be followed (401/403/404 or another non-retriable answer)."""

    retriable = False

    def __init__(self, reason: str, status: int | None) -> None:
        super().__init__(f"session cannot be followed: {reason} ({status})")
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class FollowerSettings:
    """Tuning for every follower of a process (built from `StreamerSettings`)."""

    read_timeout_secs: float = 60.0
    reconnect_initial_secs: float = 0.5
    reconnect_max_secs: float = 10.0
    history_page_limit: int = 1000
    max_frame_bytes: int = 16 * 1024 * 1024
    # Page history this often even when the stream looks healthy: recovers events a server
    # failed to deliver live. Off by default (every catch-up is a request against rate limits).
    reconcile_secs: float | None = None
    # The sink's `finished_retention_secs` (None: finished sessions are never forgotten, no check).
    finished_retention_secs: float | None = None

    def backoff(self) -> Backoff:
        """Reconnects' (and crashed followers' restarts') schedule."""
        return Backoff(self.reconnect_initial_secs, self.reconnect_max_secs, jitter=0.25)


def event_key(fields: Mapping[str, Any], kind: str, processed_at: str) -> str:
    """The dedupe key (and `ce_id`): the event's id; for an empty id (the `user.interrupt`
    quirk, spec §1.3) `~<type>@<processed_at>#<digest of its fields>`, so that two such events
    at one instant stay two, while the stream's and history's copies of one stay one."""
    event_id = fields.get("id")
    if isinstance(event_id, str) and event_id:
        return event_id
    canonical = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return f"~{kind}@{processed_at}#{hashlib.blake2b(canonical, digest_size=6).hexdigest()}"


class Follower:
    """Follows one session until it ends; `run` returns then, or raises `FollowerFatalError`."""

    __slots__ = (
        "_agent_id",
        "_agent_model",
        "_boundary",
        "_client",
        "_ended",
        "_settings",
        "_sink",
        "_unchecked",
        "_watermark",
        "session_id",
    )

    def __init__(
        self,
        session_id: str,
        client: ApiClient,
        sink: Sink,
        settings: FollowerSettings,
        *,
        checkpoint: Checkpoint | None = None,
        agent_id: str | None = None,
        agent_model: str | None = None,
    ) -> None:
        self.session_id = session_id
        self._client = client
        self._sink = sink
        self._settings = settings
        self._agent_id = agent_id
        self._agent_model = agent_model
        self._ended = False
        self._watermark: str | None = None
        self._boundary: set[str] = set()
        if checkpoint is not None and checkpoint.processed_at:
            self._watermark = checkpoint.processed_at
            self._boundary = set(checkpoint.boundary_ids)
        self._unchecked = checkpoint is None and settings.finished_retention_secs is not None

    async def run(self) -> None:
        """Follow until the session ends; reconnects forever on retriable trouble."""
        with structlog.contextvars.bound_contextvars(session_id=self.session_id):
            attempt = 0
            while not self._ended:
                try:
                    if await self._connect_once():
                        attempt = 0
                    reason, advice = "eof", None
                except ApiError as exc:
                    if not exc.retriable:
                        status = getattr(exc, "status", None)
                        telemetry.error(exc.reason, status=status)
                        if status == 404 and self._watermark is not None:
                            await self._sink.finish(self.session_id)  # deleted: nothing follows
                        raise FollowerFatalError(exc.reason, status) from None
                    reason, advice = exc.reason, exc.retry_after_secs
                except SSEError as exc:
                    reason, advice = exc.reason, None
                except (aiohttp.ClientError, TimeoutError):
                    reason, advice = "connection", None
                if self._ended:
                    break
                delay = self._settings.backoff().delay(attempt, retry_after=advice)
                telemetry.reconnecting(reason, attempt, delay)
                attempt += 1
                await asyncio.sleep(delay)
            await self._sink.finish(self.session_id)
            log.info("session_finished", watermark=self._watermark)

    def resume_point(self) -> Checkpoint | None:
        """Where a new follower of this session picks up: everything up to here was handed to
        the sink (what a supervisor restarts a crashed follower from)."""
        if self._watermark is None:
            return None
        return Checkpoint(self.session_id, self._watermark, tuple(sorted(self._boundary)))

    async def _connect_once(self) -> bool:
        """One connection: stream opened, history caught up, stream read to its end.

        Returns whether any event arrived (which resets the backoff).
        """
        got_event = False
        if self._agent_id is None or self._unchecked:
            session = await self._client.get_session(self.session_id)
            if self._unchecked:
                self._check_retention(session)
            if self._agent_id is None:
                self._agent_id = agent_id_of(session) or ""
                self._agent_model = agent_model_of(session)
        async with self._client.open_stream(self.session_id) as response:
            telemetry.stream_opened()
            try:
                got_event = await self._catch_up()
                if self._ended:
                    return got_event
                return await self._read_stream(response) or got_event
            finally:
                telemetry.stream_closed()

    def _check_retention(self, session: Mapping[str, Any]) -> None:
        """Refuse a terminated session created before the retention window (module docstring)."""
        retention = self._settings.finished_retention_secs
        assert retention is not None
        created = session.get("created_at")
        moment = instant(created) if isinstance(created, str) else None
        terminated = session.get("status") == "terminated"
        if terminated and moment is not None and moment.timestamp() < time.time() - retention:
            log.warning(
                "session_not_streamed",
                reason="terminated, created before STREAMER_SINK_FINISHED_RETENTION_SECS",
                created_at=created,
                retention_secs=retention,
            )
            raise FollowerFatalError("ended_before_retention", None)
        self._unchecked = False

    async def _read_stream(self, response: aiohttp.ClientResponse) -> bool:
        """Offer each frame of the open stream until it ends; whether any event arrived."""
        got_event = False
        decoder = SSEDecoder(self._settings.max_frame_bytes)
        reconcile = self._settings.reconcile_secs
        frames = read_frames(response, decoder, self._settings.read_timeout_secs, reconcile)
        loop = asyncio.get_running_loop()
        reconciled_at = loop.time()
        async with aclosing(frames):
            async for items in frames:
                got_event = await self._on_items(items) or got_event
                items.clear()  # a quiet stream keeps no frame alive while it waits
                if self._ended:
                    return got_event
                if reconcile is not None and loop.time() - reconciled_at >= reconcile:
                    got_event = await self._catch_up() or got_event
                    reconciled_at = loop.time()
                    if self._ended:
                        return got_event
        return got_event

    async def _on_items(self, items: list[Frame | FrameError]) -> bool:
        got_event = False
        for item in items:
            got_event = await self._on_item(item) or got_event
            if self._ended:
                break
        return got_event

    async def _on_item(self, item: Frame | FrameError) -> bool:
        if isinstance(item, FrameError):
            telemetry.error(item.reason, size=item.size)
            await self._catch_up()
            return False
        try:
            event = parse_frame(item)
        except BadFrameError as exc:
            telemetry.error(exc.reason, size=len(item.data))
            await self._catch_up()
            return False
        if event is None:
            return False
        telemetry.EVENTS_IN.inc()
        telemetry.BYTES_IN.inc(len(event.raw))
        return await self._offer(event)

    async def _catch_up(self) -> bool:
        """Page history from the watermark and publish what is new, in history order."""
        published = False
        async for page in self._client.list_events(
            self.session_id,
            created_at_gte=self._watermark,
            limit=self._settings.history_page_limit,
        ):
            for fields in page:
                if not isinstance(fields, dict) or not isinstance(fields.get("type"), str):
                    telemetry.error("not_an_event", where="history")
                    continue
                telemetry.EVENTS_IN.inc()
                if await self._offer(StreamEvent(fields, orjson.dumps(fields))):
                    published = True
        return published

    async def _offer(self, event: StreamEvent) -> bool:
        """Publish `event` unless it is a preview (routed aside), a queued echo or a repeat."""
        fields = event.fields
        kind = fields["type"]
        processed_at = fields.get("processed_at")
        if kind in PREVIEW_TYPES:
            # Never persisted, never replayed: not an event, so no dedupe and no watermark.
            telemetry.skipped("delta_preview")
            await self._sink.publish_preview(self.session_id, event.raw)
            return False
        if not isinstance(processed_at, str) or not processed_at:
            telemetry.skipped("queued_echo")
            return False
        key = event_key(fields, kind, processed_at)
        if self._seen(key, processed_at):
            telemetry.skipped("duplicate")
            self._ended = self._ended or kind in TERMINAL_TYPES
            return False
        await self._publish(event, key, kind, processed_at)
        self._ended = self._ended or kind in TERMINAL_TYPES
        return True

    def _seen(self, key: str, processed_at: str) -> bool:
        if self._watermark is None:
            return False
        if processed_at == self._watermark:
            return key in self._boundary
        return not is_later(processed_at, self._watermark)

    async def _publish(self, event: StreamEvent, key: str, kind: str, processed_at: str) -> None:
        thread = event.fields.get("session_thread_id")
        record = SessionEvent(
            session_id=self.session_id,
            event_id=key,
            type=kind,
            processed_at=processed_at,
            raw=event.raw,
            thread_id=thread if isinstance(thread, str) and thread else None,
            agent_id=self._agent_id or None,
            agent_model=self._agent_model,
        )
        await self._sink.publish(record)
        telemetry.published(len(event.raw))
        if processed_at == self._watermark:
            self._boundary.add(key)
        else:
            self._watermark = processed_at
            self._boundary = {key}


def agent_model_of(session: Mapping[str, Any]) -> str | None:
    """The model id of a session's agent (`agent.model.id`; the model is not on the events)."""
    agent = session.get("agent")
    model = agent.get("model") if isinstance(agent, Mapping) else None
    if isinstance(model, Mapping) and isinstance(model.get("id"), str):
        return str(model["id"])
    return model if isinstance(model, str) and model else None


def agent_id_of(session: Mapping[str, Any]) -> str | None:
    """The id of the agent a session runs (the Session object's `agent.id`)."""
    agent = session.get("agent")
    if isinstance(agent, Mapping) and isinstance(agent.get("id"), str):
        return str(agent["id"])
    return None
