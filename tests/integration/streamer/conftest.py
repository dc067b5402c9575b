"""Fixtures for following the simulator over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from simulator import Simulator
from streamer.api import ApiClient
from streamer.events import Checkpoint
from streamer.follower import Follower, FollowerSettings
from streamer.sink import InMemorySink

# Short timeouts so that faults are recovered from quickly; nothing asserts on timing.
FAST = FollowerSettings(
    read_timeout_secs=2.0, reconnect_initial_secs=0.05, reconnect_max_secs=0.5, reconcile_secs=1.0
)


@pytest.fixture
async def client(simulator: Simulator) -> AsyncIterator[ApiClient]:
    """An API client of the simulator."""
    async with ApiClient(simulator.base_url, SecretStr("sk-test-key")) as api:
        yield api


@contextlib.asynccontextmanager
async def following(
    client: ApiClient,
    sink: InMemorySink,
    session_id: str,
    settings: FollowerSettings = FAST,
    checkpoint: Checkpoint | None = None,
) -> AsyncIterator[asyncio.Task[None]]:
    """Run a follower of `session_id` for the duration of the block, then cancel it."""
    follower = Follower(session_id, client, sink, settings, checkpoint=checkpoint)
    task = asyncio.create_task(follower.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def sent(sink: InMemorySink) -> dict[str, list[str]]:
    """Session id -> the event ids the sink received, in order."""
    grouped: dict[str, list[str]] = {}
    for event in sink.events:
        grouped.setdefault(event.session_id, []).append(event.event_id)
    return grouped


def truth(sim: Simulator, session_ids: list[str]) -> dict[str, list[str]]:
    """Session id -> the simulator's persisted event ids (its ground truth), in order."""
    return {s: [t["event_id"] for t in sim.ground_truth(s)] for s in session_ids}
