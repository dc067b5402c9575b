"""Webhook deliveries: thin payloads signed with Standard Webhooks (spec §10).

Each persisted session event that has a webhook counterpart (and create / archive) becomes one
delivery to every configured URL. Attempts: up to 3, with jittered backoff compressed by the
simulator's speed; any 2xx acknowledges. `webhook-id` is stable across retries,
`webhook-timestamp` is re-stamped per attempt. A fault can ask for bad signatures.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog

from simulator.clock import Clock, Ids
from simulator.faults import Faults
from simulator.session import SimSession
from streamer.resource import AsyncResource

log = structlog.get_logger(__name__)

# persisted event type -> webhook data.type (names differ from the SSE types, spec §10)
EVENT_WEBHOOKS = {
    "session.status_running": "session.status_run_started",
    "session.status_idle": "session.status_idled",
    "session.status_rescheduled": "session.status_rescheduled",
    "session.status_terminated": "session.status_terminated",
    "session.updated": "session.updated",
    "session.deleted": "session.deleted",
    "session.thread_created": "session.thread_created",
    "session.thread_status_idle": "session.thread_idled",
    "session.thread_status_terminated": "session.thread_terminated",
    "span.outcome_evaluation_end": "session.outcome_evaluation_ended",
}
MAX_ATTEMPTS = 3
ORGANIZATION_ID = "org_01simulator"
WORKSPACE_ID = "wrkspc_01simulator"


def new_secret(rng: random.Random) -> str:
    return "whsec_" + base64.b64encode(rng.randbytes(32)).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` keyed with the decoded secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass(slots=True, frozen=True)
class Delivery:
    webhook_id: str
    body: bytes
    session_id: str


class Webhooks(AsyncResource):
    """The delivery queue and its one task; `start`/`stop` (safe twice) and `async with`."""

    def __init__(
        self,
        urls: tuple[str, ...],
        secret: str,
        *,
        ids: Ids,
        clock: Clock,
        faults: Faults,
        speed: float,
    ) -> None:
        self.urls = urls
        self.secret = secret
        self.ids = ids
        self.clock = clock
        self.faults = faults
        self.speed = speed
        self.delivered = 0
        self.failed = 0
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None and self.urls:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            self._task = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    def on_event(self, session: SimSession, event: dict[str, Any]) -> None:
        """Registry listener: queue the webhook counterpart of a persisted event, if any."""
        kind = EVENT_WEBHOOKS.get(str(event.get("type")))
        if kind == "session.status_idled" and event["stop_reason"]["type"] == "requires_action":
            self.notify(session, "session.requires_action")
        if kind is not None:
            self.notify(session, kind, event.get("session_thread_id"))

    def notify(self, session: SimSession, kind: str, thread_id: str | None = None) -> None:
        if not self.urls:
            return
        data: dict[str, Any] = {"type": kind, "id": session.id}
        data |= {"organization_id": ORGANIZATION_ID, "workspace_id": WORKSPACE_ID}
        if thread_id and kind.startswith("session.thread_"):
            data["session_thread_id"] = thread_id
        webhook_id = self.ids.new("whe_")
        payload = {
            "type": "event",
            "id": webhook_id,
            "created_at": self.clock.stamp(),
            "data": data,
        }
        self._queue.put_nowait(Delivery(webhook_id, orjson.dumps(payload), session.id))

    async def _run(self) -> None:
        while True:
            delivery = await self._queue.get()
            for url in self.urls:
                await self._deliver(url, delivery)

    async def _deliver(self, url: str, delivery: Delivery) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if await self._attempt(url, delivery):
                self.delivered += 1
                return
            if attempt < MAX_ATTEMPTS:
                backoff = min(120.0, 5.0 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)  # noqa: S311
                await asyncio.sleep(backoff / self.speed)
        self.failed += 1
        log.warning("webhook_dropped", webhook_id=delivery.webhook_id, attempts=MAX_ATTEMPTS)

    async def _attempt(self, url: str, delivery: Delivery) -> bool:
        assert self._http is not None
        timestamp = int(time.time())
        signature = sign(self.secret, delivery.webhook_id, timestamp, delivery.body)
        if self.faults.spec_for(delivery.session_id).webhook_bad_signature:
            signature = "v1," + base64.b64encode(bytes(32)).decode()
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self._http.post(url, data=delivery.body, headers=headers) as response:
                return 200 <= response.status < 300
        return False
