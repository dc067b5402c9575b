"""`Simulator`: the programmatic API — start, create sessions, ground truth, inject, faults."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import structlog
from aiohttp import web

from simulator.app import build_app
from simulator.config import SimulatorConfig
from simulator.core import Core
from simulator.engine.lifecycle import Autopilot, SessionEngine
from simulator.engine.pacing import Pacer
from simulator.engine.scenarios import shape_for
from simulator.faults import Faults
from simulator.session import SimSession
from simulator.webhooks import Webhooks, new_secret
from streamer.resource import AsyncResource

log = structlog.get_logger(__name__)


class Simulator(AsyncResource):
    """A running simulator of the Managed Agents API on 127.0.0.1.

        async with Simulator(SimulatorConfig(scenario="coding", speed=50.0)) as sim:
            session_id = await sim.create_session()
            ...  # point the SDK or the streamer at sim.base_url

    Each session's engine is one task owned here; `stop` cancels and awaits them all.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.core = Core(self.config, self._start_engine, self._stop_engine)
        self.pacer = Pacer(self.config.speed, self.config.rate_eps)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._runner: web.AppRunner | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.port = 0
        secret = self.config.webhook_secret
        self.webhook_secret = (
            secret.get_secret_value()
            if secret is not None
            else new_secret(random.Random(f"webhooks:{self.config.seed}"))  # noqa: S311
        )
        self.webhooks = Webhooks(
            self.config.webhook_urls,
            self.webhook_secret,
            ids=self.core.ids,
            clock=self.core.clock,
            faults=self.core.faults,
            speed=self.config.speed,
        )
        self.core.registry.listeners.append(self.webhooks.on_event)
        self.core.registry.resource_listeners.append(self.webhooks.notify)

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def faults(self) -> Faults:
        return self.core.faults

    async def start(self) -> None:
        if self._runner is not None:
            return
        self.core.truth.start()
        await self.webhooks.start()
        runner = web.AppRunner(build_app(self.core), handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port, backlog=4096)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        self._flusher = asyncio.create_task(self._flush_ground_truth())
        for _ in range(self.config.sessions):
            self.core.create_session()
        log.info("simulator_started", port=self.port, sessions=self.config.sessions)

    async def stop(self) -> None:
        """Cancel every engine, close streams and the server; safe to call twice."""
        runner, self._runner = self._runner, None
        tasks = [*self._tasks.values(), *([self._flusher] if self._flusher else [])]
        self._tasks.clear()
        self._flusher = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for session in self.core.registry.ordered:
            session.hub.close_all()
            for thread in session.threads.values():
                thread.hub.close_all()
        if runner is not None:
            await runner.cleanup()
            log.info("simulator_stopped", port=self.port)
        await self.webhooks.stop()
        self.core.truth.stop()

    async def create_session(
        self,
        scenario: str | None = None,
        metadata: dict[str, str] | None = None,
        agent_id: str | None = None,
    ) -> str:
        """Create a session and start it: its simulated user sends the first `user.message`."""
        return self.core.create_session(scenario, metadata, agent_id)

    def ground_truth(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Every persisted event (session_id, event_id, type, processed_at), in order."""
        return self.core.truth.select(session_id)

    def inject(self, session_id: str, raw_event: dict[str, Any]) -> dict[str, Any]:
        """Persist and stream an arbitrary event; assigns `id`/`processed_at` when missing."""
        return self.core.inject(session_id, raw_event)

    def session(self, session_id: str) -> SimSession:
        return self.core.registry.get(session_id)

    def _start_engine(self, session: SimSession, autopilot: bool) -> None:
        rng = random.Random(f"{self.config.seed}:{session.seq}")  # noqa: S311 - simulation
        pilot = Autopilot(turns=self.config.user_turns) if autopilot else None
        engine = SessionEngine(
            session,
            registry=self.core.registry,
            pacer=self.pacer,
            rng=rng,
            shape=shape_for(session.scenario),
            autopilot=pilot,
        )
        task = asyncio.create_task(engine.run(), name=f"engine-{session.id}")
        self._tasks[session.id] = task
        task.add_done_callback(self._engine_done)

    async def _stop_engine(self, session: SimSession) -> None:
        task = self._tasks.pop(session.id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _engine_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("engine_failed", task=task.get_name(), error_type=type(error).__name__)

    async def _flush_ground_truth(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            with contextlib.suppress(OSError):
                self.core.truth.flush()
