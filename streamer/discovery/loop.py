"""`DiscoveryLoop`: discovery passes at an interval, for as long as it is started.

A pass that fails unexpectedly (a bug, an answer nobody foresaw) is counted and logged
(`discovery_crashed`), `failing` turns readiness red, and the next pass comes after a backoff;
the first pass that succeeds again clears it. One loop serves the single-process supervisor and
the fleet's poller (which starts and stops it as control partition 0 moves).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from streamer import telemetry
from streamer.backoff import Backoff
from streamer.discovery.poller import Discovery

log = structlog.get_logger(__name__)


class DiscoveryLoop:
    """Runs `Discovery` passes every `interval_secs` while started; `stop` is safe twice.

    Each `start` makes a fresh `Discovery` (`make`), so its watermark is loaded from the store.
    """

    def __init__(
        self, make: Callable[[], Discovery], *, interval_secs: float, backoff: Backoff
    ) -> None:
        self._make = make
        self._interval = interval_secs
        self._backoff = backoff
        self._task: asyncio.Task[None] | None = None
        self.discovery: Discovery | None = None
        self.failing = False
        self.passed_once = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def healthy(self) -> bool:
        """Running, a pass has succeeded, and the last one did not fail."""
        return self.running and self.passed_once and not self.failing

    def start(self) -> None:
        if self._task is None:
            self.discovery = self._make()
            self._task = asyncio.create_task(self._forever(self.discovery), name="discovery")
            log.info("discovery_started")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            log.info("discovery_stopped")

    async def run_pass(self) -> int:
        """One pass now (besides the loop's); how many new sessions it followed."""
        if self.discovery is None:
            raise RuntimeError("discovery is not started")
        return await self.discovery.run_pass()

    async def _forever(self, discovery: Discovery) -> None:
        failures = 0
        while True:
            try:
                await discovery.run_pass()
            except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen answer: count, retry
                self.failing = True
                delay = self._backoff.delay(failures)
                failures += 1
                telemetry.error("discovery_crashed", error_type=type(exc).__name__,
                                retry_in_ms=int(delay * 1000))  # fmt: skip
                await asyncio.sleep(delay)
                continue
            failures, self.failing, self.passed_once = 0, False, True
            await asyncio.sleep(self._interval)
