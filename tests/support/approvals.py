"""The whole approval loop for tests: simulator -> streamer -> Kafka -> bot -> simulator.

`Loop` owns one streamer `Service` and any number of bot replicas (each a `Runner` of an
`ApprovalConsumer`, all in one consumer group), on unique topics of the real broker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import SecretStr

from consumers.approvals.config import ApprovalSettings
from consumers.approvals.consumer import ApprovalConsumer
from consumers.approvals.policy import Policy
from consumers.http import HttpServer
from consumers.runner import Runner
from consumers.settings import RunnerSettings
from streamer.config import StreamerSettings
from streamer.kafka.config import KafkaSettings
from streamer.service import Service
from tests.support.kafka import unique_name

BETA = {"anthropic-beta": "managed-agents-2026-04-01", "x-api-key": "test-key"}
GATED = ("agent.tool_use", "agent.mcp_tool_use")


def loop_kafka(bootstrap: str) -> KafkaSettings:
    """Kafka settings with every topic unique to one test."""
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        events_topic=unique_name("events"),
        approvals_topic=unique_name("approvals"),
        dead_letter_topic=unique_name("dlq"),
        checkpoints_topic=unique_name("checkpoints"),
    )


async def create_topic(kafka: KafkaSettings, topic: str, partitions: int) -> None:
    """Create `topic` with `partitions` partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


@dataclass
class Bot:
    """One bot replica: its runner, its run task and its HTTP server."""

    runner: Runner
    task: asyncio.Task[None]
    http: HttpServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.port}"

    async def stop(self) -> None:
        self.runner.request_stop()
        await self.task
        await self.http.stop()
        await self.runner.stop()


@dataclass
class Loop:
    """A streamer following the simulator's sessions, and bot replicas on its topic."""

    base_url: str
    kafka: KafkaSettings
    policy: Policy
    group_id: str = field(default_factory=lambda: unique_name("approvals"))
    state_topic: str = field(default_factory=lambda: unique_name("approvals-state"))
    bots: list[Bot] = field(default_factory=list)

    def settings(self, **overrides: Any) -> ApprovalSettings:
        values: dict[str, Any] = {"api_base_url": self.base_url, "state_topic": self.state_topic,
                                  "resolver_interval_ms": 100, "retry_initial_ms": 20,
                                  "api_key": "test-key"}  # fmt: skip
        return ApprovalSettings(**(values | overrides))

    async def start_bot(self, **overrides: Any) -> Bot:
        consumer = ApprovalConsumer(self.settings(**overrides), policy=self.policy)
        runner = Runner(consumer, self.kafka, RunnerSettings(poll_timeout_ms=50), self.group_id)
        await runner.start()
        http = HttpServer("127.0.0.1", 0, runner.context.routes)
        await http.start()
        bot = Bot(runner, asyncio.create_task(runner.run()), http)
        self.bots.append(bot)
        return bot

    async def stop_bots(self) -> None:
        bots, self.bots = self.bots, []
        for bot in bots:
            await bot.stop()


@contextlib.asynccontextmanager
async def streamer(base_url: str, kafka: KafkaSettings, sessions: list[str]) -> AsyncIterator[None]:
    """A streamer `Service` following `sessions` into `kafka.events_topic`."""
    settings = StreamerSettings(
        base_url=base_url, api_key=SecretStr("test-key"), session_ids=tuple(sessions),
        discover=False, http_port=0,
    )  # fmt: skip
    async with Service(settings, kafka=kafka):
        yield


async def history(base_url: str, session_id: str) -> list[dict[str, Any]]:
    """Every persisted event of a session, through the API (full bodies, in order)."""
    events: list[dict[str, Any]] = []
    params = {"limit": "1000"}
    async with aiohttp.ClientSession(base_url=base_url, headers=BETA) as http:
        while True:
            async with http.get(f"/v1/sessions/{session_id}/events", params=params) as response:
                body = await response.json()
            events += body["data"]
            if not body.get("next_page"):
                return events
            params["page"] = body["next_page"]


def gated(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tool uses that waited for an answer."""
    return [e for e in events if e["type"] in GATED and e.get("evaluated_permission") == "ask"]


def confirmations(events: list[dict[str, Any]]) -> Counter[str]:
    """How many `user.tool_confirmation`s each tool use id got."""
    return Counter(e["tool_use_id"] for e in events if e["type"] == "user.tool_confirmation")


def answers(events: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    """tool_use_id -> (result, deny_message) of its (last) confirmation."""
    return {e["tool_use_id"]: (e["result"], e.get("deny_message"))
            for e in events if e["type"] == "user.tool_confirmation"}  # fmt: skip
