"""`Service`: the parts of one streamer process wired together, started and stopped in order.

Start: API client (one request: a refused key stops the start) → Kafka sink (loads checkpoints) →
discovery watermark store → supervisor (followers, discovery) → HTTP. Stop, within
`shutdown_timeout_secs`: HTTP → supervisor (followers cancelled) → sink (flush and commit what
they published) → watermark store → client. Exactly-once holds whatever the stop interrupts: the
sink commits events and checkpoints together.
With the fleet enabled (`STREAMER_FLEET_ENABLED`), `Fleet` takes the supervisor's and the sink's
place: it joins the group on the control topic and runs one sink per owned partition.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

import structlog

from streamer.api import ApiClient
from streamer.api.client import DELTA_TYPES
from streamer.api.errors import ApiError, ApiStatusError
from streamer.config import StreamerSettings
from streamer.discovery.kafka_store import KafkaWatermarks
from streamer.fleet.fleet import Fleet
from streamer.http import HttpServer
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.kafka.sink import KafkaSink
from streamer.supervisor import Supervisor
from streamer.webhooks import WebhookVerifier

log = structlog.get_logger("streamer.service")


class Service:
    """One streamer process. `stop` is safe twice."""

    def __init__(
        self,
        settings: StreamerSettings,
        *,
        kafka: KafkaSettings | None = None,
        sink_settings: SinkSettings | None = None,
    ) -> None:
        """`kafka` / `sink_settings` replace the tree's branches (tests, the demo)."""
        if kafka is not None or sink_settings is not None:
            branches = {"kafka": kafka or settings.kafka, "sink": sink_settings or settings.sink}
            settings = settings.model_copy(update=branches)
        self.settings = settings
        sink_settings = settings.sink_settings()
        self.sink = KafkaSink(settings.kafka, sink_settings)
        self.client = ApiClient(
            settings.base_url,
            settings.api_key,
            request_timeout_secs=settings.request_timeout_secs,
            event_deltas=DELTA_TYPES if sink_settings.deltas_enabled else (),
        )
        discovery = settings.discovery_settings() if settings.discovery_enabled else None
        # The watermark is per API followed: its base URL is the record's key.
        self.watermarks = (
            KafkaWatermarks(settings.kafka, sink_settings, key=settings.base_url)
            if discovery is not None
            else None
        )
        self.supervisor = Supervisor(
            self.client,
            self.sink,
            settings.follower_settings(),
            discovery=discovery,
            watermarks=self.watermarks,
        )
        # With `fleet.enabled`, the fleet (one sink per owned control partition) replaces the
        # supervisor and its single sink, which are then never started.
        self.fleet = (
            Fleet(
                self.client,
                settings.kafka,
                sink_settings,
                settings.follower_settings(),
                settings.fleet,
                discovery=discovery,
                watermarks=self.watermarks,
            )
            if settings.fleet.enabled
            else None
        )
        runner: Supervisor | Fleet = self.fleet or self.supervisor
        verifier = (
            WebhookVerifier(settings.webhook_secret, settings.webhook_tolerance_secs)
            if settings.webhook_secret is not None
            else None
        )
        self.http = HttpServer(
            runner,
            host=settings.http_host,
            port=settings.http_port,
            webhook_path=settings.webhook_path,
            verifier=verifier,
            token=settings.http_token,
            ready=lambda: runner.ready and not self.failed,
        )
        self._started = False

    async def start(self) -> None:
        await self.client.start()
        await self._check_api_key()
        if self.fleet is None:
            await self.sink.start()
        if self.watermarks is not None:
            await self.watermarks.start()
        if self.fleet is not None:
            await self.fleet.start(self.settings.session_ids)
        else:
            await self.supervisor.start(self.settings.session_ids)
        await self.http.start()
        self._started = True
        log.info("streamer_started", http=self.http.url, fleet=self.fleet is not None)

    async def _check_api_key(self) -> None:
        """One cheap request, so that a refused key stops the start (401/403 raise). Any other
        failure is only logged: followers and discovery retry what is transient."""
        try:
            await self.client.get_json("/v1/sessions", [("limit", "1")])
        except ApiStatusError as exc:
            if exc.status in (401, 403):
                raise
            log.warning("api_check_failed", error=str(exc))
        except ApiError as exc:
            log.warning("api_check_failed", error=str(exc))

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        try:
            async with asyncio.timeout(self.settings.shutdown_timeout_secs):
                await self.http.stop()
                if self.fleet is not None:
                    await self.fleet.stop()
                else:
                    await self.supervisor.stop()
                    await self.sink.stop()
        except TimeoutError:
            log.warning("shutdown_timeout", deadline_secs=self.settings.shutdown_timeout_secs)
        finally:
            if self.watermarks is not None:
                await self.watermarks.stop()
            await self.client.stop()
            log.info("streamer_stopped")

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            self._started = True
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def failed(self) -> bool:
        """The sink failed for good (e.g. fenced by another instance): the process must exit.
        In a fleet, a fenced partition is dropped instead and the process carries on."""
        return self.fleet is None and self.sink.failure is not None

    def _finished(self) -> bool:
        if self.fleet is not None:
            return self.fleet.caught_up and not self.fleet.followed
        return not self.supervisor.followed

    async def wait(self, stop: asyncio.Event, *, until_finished: bool = False) -> int:
        """Return 0 when `stop` is set (or, with `until_finished`, no follower is left running);
        1 as soon as the sink has failed for good."""
        while not stop.is_set():
            if self.failed:
                log.error("sink_failed_exiting")
                return 1
            if until_finished and self._finished():
                return 0
            try:
                async with asyncio.timeout(0.5):
                    await stop.wait()
            except TimeoutError:
                pass
        return 0
