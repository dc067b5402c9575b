"""`Poller`: discovery for a fleet, run by whichever instance owns control partition 0.

Only one instance needs to poll: the group already elects one, the owner of partition 0, and
the election moves with that partition (a new owner loads the watermark from Kafka and carries
on where the last pass stopped). Found sessions are announced on the control topic, and a session
counts as secured once its announcement is acknowledged: from then on the group follows it,
whichever instance dies. A zombie poller that wakes up after partition 0 moved only repeats
announcements (idempotent) or writes an older watermark (which only re-lists sessions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from streamer import telemetry
from streamer.api import ApiClient
from streamer.discovery import Discovery, DiscoverySettings, WatermarkStore
from streamer.discovery.poller import Follow, Secured
from streamer.follower import FollowerSettings

log = structlog.get_logger(__name__)

POLLING_PARTITION = 0


class Poller:
    """Runs discovery passes at the interval while started. `stop` is safe twice."""

    def __init__(
        self,
        client: ApiClient,
        store: WatermarkStore,
        follow: Follow,
        secured: Secured,
        *,
        settings: DiscoverySettings,
        backoff: FollowerSettings,
    ) -> None:
        self._make: Callable[[], Discovery] = lambda: Discovery(
            client, store, follow, secured, settings
        )
        self._interval = settings.interval_secs
        self._backoff = backoff
        self._task: asyncio.Task[None] | None = None
        self.failing = False
        self.passed_once = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start polling (a fresh `Discovery`, so the watermark is loaded from the store)."""
        if self._task is None:
            self._task = asyncio.create_task(self._forever(self._make()), name="discovery")
            log.info("discovery_started")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            log.info("discovery_stopped")

    async def _forever(self, discovery: Discovery) -> None:
        failures = 0
        while True:
            try:
                await discovery.run_pass()
            except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen answer: count, retry
                self.failing = True
                delay = self._backoff.backoff().delay(failures)
                failures += 1
                telemetry.error("discovery_crashed", error_type=type(exc).__name__,
                                retry_in_ms=int(delay * 1000))  # fmt: skip
                await asyncio.sleep(delay)
                continue
            failures, self.failing, self.passed_once = 0, False, True
            await asyncio.sleep(self._interval)
