"""The `Supervisor` owns one follower task per followed session.

Sessions come from explicit ids, the `follow` admin call, webhooks, and discovery
(`streamer.discovery`: every session created since a watermark kept in Kafka, whatever its status,
then the live ones; with discovery, every session with an unfinished checkpoint is resumed too, as
it may have ended while no one was following). One session's failure never touches another: each
follower is its own task, its end is recorded (finished or fatal) and nothing else is affected. A
follower that crashes (any other exception) is counted, logged and started again after a backoff,
from what it had published (`agents_streamer_followers_restarting`,
`agents_streamer_follower_restarts_total`). Discovery is owned the same way: a pass that fails
unexpectedly is counted and logged, readiness turns red, and the next pass follows after a
backoff. Sessions whose checkpoint says they finished are not followed again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import structlog

from streamer import telemetry
from streamer.api import ApiClient
from streamer.discovery import Discovery, DiscoverySettings, InMemoryWatermarks, WatermarkStore
from streamer.discovery.loop import DiscoveryLoop
from streamer.events import Checkpoint
from streamer.fleet.bounded import BoundedDict
from streamer.follower import (
    Follower,
    FollowerFatalError,
    FollowerSettings,
)
from streamer.resource import AsyncResource
from streamer.sink import Sink

log = structlog.get_logger("streamer.supervisor")


class Supervisor(AsyncResource):
    """Starts, tracks and stops followers. `stop` is safe twice."""

    def __init__(
        self,
        client: ApiClient,
        sink: Sink,
        settings: FollowerSettings,
        *,
        discovery_interval_secs: float | None = None,
        discovery: DiscoverySettings | None = None,
        watermarks: WatermarkStore | None = None,
        ended_kept: int = 10000,
        on_ended: Callable[[str, str], None] | None = None,
    ) -> None:
        """Discovery runs when `discovery` (or just its interval) is given; its watermark lives
        in `watermarks` (default: in memory, so every start is a first start). `ended_kept` caps
        `ended` (older ends are told by their finished checkpoints); `on_ended(session_id,
        outcome)` is called when a follower finishes or fails for good."""
        self._client = client
        self._sink = sink
        self._settings = settings
        if discovery is None and discovery_interval_secs is not None:
            discovery = DiscoverySettings(interval_secs=discovery_interval_secs)
        self._poller: DiscoveryLoop | None = None
        if discovery is not None:
            store = watermarks or InMemoryWatermarks()
            found = discovery  # for the closure: the argument's type narrowed
            self._poller = DiscoveryLoop(
                lambda: Discovery(client, store, self.follow, self.secured, found),
                interval_secs=discovery.interval_secs,
                backoff=settings.backoff(),
            )
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Crashed followers' resume points (ahead of the sink's committed checkpoints), until
        # they are followed again; every other resume point is the sink's committed one.
        self._resume: dict[str, Checkpoint] = {}
        # session id -> "finished" | "fatal:<reason>", the most recent `ended_kept` only
        self.ended: BoundedDict[str, str] = BoundedDict(ended_kept)
        self.crashes: dict[str, int] = {}  # running sessions -> how often their follower crashed
        self._on_ended = on_ended
        self._restarts: dict[str, asyncio.TimerHandle] = {}  # crashed followers, due again
        self._started = False

    @property
    def followed(self) -> frozenset[str]:
        """Sessions with a running follower."""
        return frozenset(self._tasks)

    @property
    def ready(self) -> bool:
        """Started, and (with discovery) a pass has succeeded, the last one did not fail
        unexpectedly, and its task is alive."""
        if not self._started or self._poller is None:
            return self._started
        return self._poller.healthy

    async def start(self, session_ids: Iterable[str] = ()) -> None:
        """Load checkpoints, follow `session_ids`, and start discovery when configured."""
        if self._started:
            return
        self._started = True
        for session_id in session_ids:
            self.follow(session_id)
        if self._poller is not None:
            # Sessions this instance was following when it stopped: they may have ended since,
            # and then discovery (live statuses only) would never find their last events.
            for session_id, checkpoint in (await self._sink.checkpoints()).items():
                if not checkpoint.finished:
                    self.follow(session_id)
            self._poller.start()

    async def stop(self) -> None:
        """Cancel discovery and every follower, and wait for them to end."""
        if self._poller is not None:
            await self._poller.stop()
        tasks = list(self._tasks.values())
        self._started = False
        for handle in self._restarts.values():
            handle.cancel()
        telemetry.RESTARTING.dec(len(self._restarts))  # several supervisors share the gauges
        self._restarts.clear()
        self._resume.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        telemetry.FOLLOWED.dec(len(self._tasks))
        self._tasks.clear()

    def follow(
        self, session_id: str, agent_id: str | None = None, agent_model: str | None = None
    ) -> bool:
        """Start following `session_id` unless it is followed already or has ended.

        Returns whether a follower was started.
        """
        if not self._started:
            raise RuntimeError("Supervisor is not started")
        if session_id in self._tasks or session_id in self.ended or session_id in self._restarts:
            return False
        checkpoint = self._resume.pop(session_id, None) or self._sink.checkpoint(session_id)
        if checkpoint is not None and checkpoint.finished:
            self.ended[session_id] = "finished"
            return False
        follower = Follower(
            session_id,
            self._client,
            self._sink,
            self._settings,
            checkpoint=checkpoint,
            agent_id=agent_id,
            agent_model=agent_model,
        )
        task = asyncio.create_task(follower.run(), name=f"follow:{session_id}")
        self._tasks[session_id] = task
        task.add_done_callback(lambda t: self._on_done(session_id, t, follower))
        telemetry.FOLLOWED.inc()
        log.info("session_followed", session_id=session_id)
        return True

    def _on_done(self, session_id: str, task: asyncio.Task[None], follower: Follower) -> None:
        if self._tasks.get(session_id) is task:
            del self._tasks[session_id]
            telemetry.FOLLOWED.dec()
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            # Once `ended` has forgotten it, the sink's finished checkpoint tells (committed by
            # then), and once the sink has forgotten that, the follower's retention check.
            self._ended(session_id, "finished")
        elif isinstance(exc, FollowerFatalError):
            log.error("session_unfollowable", session_id=session_id, reason=exc.reason)
            self._ended(session_id, f"fatal:{exc.reason}")
        else:
            self._crashed(session_id, exc, follower)

    def _ended(self, session_id: str, outcome: str) -> None:
        self.ended[session_id] = outcome
        self.crashes.pop(session_id, None)
        if self._on_ended is not None:
            self._on_ended(session_id, outcome)

    def _crashed(self, session_id: str, exc: BaseException, follower: Follower) -> None:
        """Count and log the crash; follow again after a backoff, from what was published."""
        attempt = self.crashes.get(session_id, 0)
        self.crashes[session_id] = attempt + 1
        delay = self._settings.backoff().delay(attempt)
        telemetry.error("follower_crashed", session_id=session_id,
                        error_type=type(exc).__name__, retry_in_ms=int(delay * 1000))  # fmt: skip
        if not self._started:
            return
        resume = follower.resume_point()
        if resume is not None:
            self._resume[session_id] = resume
        loop = asyncio.get_running_loop()
        self._restarts[session_id] = loop.call_later(delay, self._restart, session_id)
        telemetry.RESTARTING.inc()

    def _restart(self, session_id: str) -> None:
        if self._restarts.pop(session_id, None) is not None:
            telemetry.RESTARTING.dec()
        if self._started and self.follow(session_id):
            telemetry.RESTARTS.inc()
            log.info("follower_restarted", session_id=session_id)

    async def discover(self) -> int:
        """One discovery pass; returns how many new sessions it followed."""
        if self._poller is None:
            raise RuntimeError("discovery is not configured")
        return await self._poller.run_pass()

    def secured(self, session_id: str) -> bool:
        """Whether losing this process could no longer lose `session_id`: a checkpoint of it is
        committed, or it cannot be followed at all."""
        if self._sink.checkpoint(session_id) is not None:
            return True
        return self.ended.get(session_id, "").startswith("fatal:")
