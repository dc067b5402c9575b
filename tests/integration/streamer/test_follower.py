"""A Follower against the simulator over real HTTP, into an InMemorySink."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from simulator import Simulator
from streamer.api import ApiClient
from streamer.config import load_settings
from streamer.events import Checkpoint
from streamer.follower import Follower, FollowerFatalError
from streamer.sink import InMemorySink
from tests.integration.streamer.conftest import FAST, following
from tests.support.flow import inject_burst
from tests.support.waiting import settled


def _ids(sink: InMemorySink, session_id: str) -> list[str]:
    return [e.event_id for e in sink.events if e.session_id == session_id]


def _truth(sim: Simulator, session_id: str) -> list[str]:
    return [t["event_id"] for t in sim.ground_truth(session_id)]


async def _matches_truth(sim: Simulator, sink: InMemorySink, session_id: str) -> list[str]:
    """Wait until the sink holds the session's ground truth (and it stays so); return its ids."""
    return await settled(
        lambda: _ids(sink, session_id),
        done=lambda ids: bool(ids) and ids == _truth(sim, session_id),
    )


async def test_publishes_every_persisted_event_once_in_order(
    simulator: Simulator, client: ApiClient
) -> None:
    """A followed session's events reach the sink exactly as the ground truth lists them."""
    sink = InMemorySink()
    session_id = await simulator.create_session()
    async with following(client, sink, session_id):
        published = await _matches_truth(simulator, sink, session_id)

    assert _truth(simulator, session_id) == published


async def test_events_name_the_agent_and_its_model(simulator: Simulator, client: ApiClient) -> None:
    """Followed by id, the session is read once: every event carries its agent id and model."""
    sink = InMemorySink()
    session_id = await simulator.create_session()
    async with following(client, sink, session_id):
        await _matches_truth(simulator, sink, session_id)
    agent = simulator.session(session_id).agent
    assert {(agent["id"], agent["model"]["id"])} == {
        (e.agent_id, e.agent_model) for e in sink.events
    }


async def test_history_before_the_follower_started_is_published(
    simulator: Simulator, client: ApiClient
) -> None:
    """Events persisted before the follower started are caught up from history, in order."""
    sink = InMemorySink()
    session_id = await simulator.create_session()
    await settled(lambda: len(_truth(simulator, session_id)), done=lambda n: n > 5)
    async with following(client, sink, session_id):
        published = await _matches_truth(simulator, sink, session_id)

    assert _truth(simulator, session_id) == published


async def test_resumes_from_a_checkpoint_without_repeating(
    simulator: Simulator, client: ApiClient
) -> None:
    """Given a checkpoint, only events after it (minus its boundary ids) are published."""
    session_id = await simulator.create_session()
    truth = await settled(
        lambda: simulator.ground_truth(session_id), done=lambda t: len(t) > 6, stable_secs=0.0
    )
    cut = truth[4]
    at_cut = tuple(t["event_id"] for t in truth[:5] if t["processed_at"] == cut["processed_at"])
    checkpoint = Checkpoint(session_id, cut["processed_at"], at_cut)
    sink = InMemorySink()
    async with following(client, sink, session_id, checkpoint=checkpoint):
        published = await settled(
            lambda: _ids(sink, session_id),
            done=lambda ids: ids == _truth(simulator, session_id)[5:],
        )

    assert _truth(simulator, session_id)[5:] == published


async def test_queued_echoes_are_not_published(simulator: Simulator, client: ApiClient) -> None:
    """Every published event has a processed_at: queued echoes never reach the sink."""
    sink = InMemorySink()
    session_id = await simulator.create_session()
    async with following(client, sink, session_id):
        await _matches_truth(simulator, sink, session_id)

    assert [] == [e for e in sink.events if not e.processed_at]


async def test_unknown_event_types_pass_through_untouched(
    simulator: Simulator, client: ApiClient
) -> None:
    """An event of a type nobody knows is published with its fields intact."""
    sink = InMemorySink()
    session_id = await simulator.create_session()
    async with following(client, sink, session_id):
        await _matches_truth(simulator, sink, session_id)
        injected = simulator.inject(session_id, {"type": "future.thing", "payload": {"n": [1, 2]}})
        await _matches_truth(simulator, sink, session_id)

    published = next(e for e in sink.events if e.event_id == injected["id"])
    assert ("future.thing", {"n": [1, 2]}) == (
        published.type,
        orjson.loads(published.raw)["payload"],
    )


async def test_terminated_session_is_finished_after_draining(
    simulator: Simulator, client: ApiClient
) -> None:
    """After session.status_terminated the follower publishes it, calls finish and returns."""
    sink = InMemorySink()
    session_id = await simulator.create_session()
    async with following(client, sink, session_id) as task:
        await _matches_truth(simulator, sink, session_id)
        terminal = simulator.inject(session_id, {"type": "session.status_terminated"})
        await asyncio.wait_for(asyncio.shield(task), timeout=60)

    assert ([session_id], terminal["id"]) == (sink.finished, sink.events[-1].event_id)


async def test_unknown_session_is_fatal(simulator: Simulator, client: ApiClient) -> None:
    """A 404 for the session ends the follower with FollowerFatalError (no retry loop)."""
    follower = Follower("sesn_doesnotexist", client, InMemorySink(), FAST)
    with pytest.raises(FollowerFatalError) as raised:
        await asyncio.wait_for(follower.run(), timeout=60)

    assert ("not_found", 404) == (raised.value.reason, raised.value.status)


async def test_rejected_api_key_is_fatal() -> None:
    """A 401 ends the follower with FollowerFatalError, and the key is nowhere in it."""
    from simulator import SimulatorConfig

    config = SimulatorConfig(speed=200.0, api_key=SecretStr("sk-right"))
    async with Simulator(config) as sim, ApiClient(sim.base_url, SecretStr("sk-wrong")) as api:
        session_id = await sim.create_session()
        follower = Follower(session_id, api, InMemorySink(), FAST)
        with pytest.raises(FollowerFatalError) as raised:
            await asyncio.wait_for(follower.run(), timeout=60)

    assert ("auth", 401, False) == (
        raised.value.reason,
        raised.value.status,
        "sk-wrong" in repr(raised.value) + str(raised.value),
    )


STREAM_FAULTS: list[dict[str, Any]] = [
    {"duplicate_every": 2},
    {"malformed_every": 3},
    {"invalid_utf8_every": 3},
    {"cut_after_frames": 3, "stream_count": 3},
    {"error_after_frames": 2, "stream_count": 3},
    {"stall_after_frames": 2, "stall_secs": 5.0, "stream_count": 1},
    {"drop_live": True},
    {"http_status": 429, "http_count": 4, "retry_after_secs": 0.2},
    {"http_status": 529, "http_count": 3},
    {"http_status": 500, "http_count": 2, "http_scope": "events_list"},
    {"http_status": 502, "http_count": 2, "http_scope": "stream"},
]


@pytest.mark.parametrize("fault", STREAM_FAULTS, ids=lambda f: "-".join(map(str, f.items())))
async def test_every_event_once_in_order_despite_faults(
    simulator: Simulator, client: ApiClient, fault: dict[str, Any]
) -> None:
    """Under each stream or HTTP fault the sink still ends with exactly the ground truth.

    The injected flow makes the events arrive live, on the faulty stream, not only from history.
    """
    sink = InMemorySink()
    session_id = await simulator.create_session()
    simulator.faults.set(dict(fault), session_id=session_id)
    async with following(client, sink, session_id):
        await settled(lambda: len(sink.events), done=bool, stable_secs=0.2)
        await inject_burst(simulator, session_id, count=60, per_second=200)
        published = await _matches_truth(simulator, sink, session_id)

    assert _truth(simulator, session_id) == published


async def test_slow_sink_stops_reading_and_nothing_is_lost_when_it_recovers(
    simulator: Simulator, client: ApiClient
) -> None:
    """With the sink blocked the follower holds at its bound; released, it delivers everything."""
    sink = InMemorySink(max_buffered=5)
    session_id = await simulator.create_session()
    async with following(client, sink, session_id):
        await inject_burst(simulator, session_id, count=40, per_second=400)
        held = await settled(lambda: len(sink.events), done=lambda n: n == 5)
        sink.drain(10_000)
        published = await _matches_truth(simulator, sink, session_id)

    assert (5, _truth(simulator, session_id)) == (held, published)


async def test_reconcile_secs_from_the_settings_recovers_a_dropped_live_stream(
    simulator: Simulator, client: ApiClient
) -> None:
    """`--reconcile-secs` (a StreamerSettings field) makes the follower page history on a
    healthy-looking stream: events the server never streams still arrive, in order."""
    settings = load_settings(
        reconcile_secs=0.5, stream_read_timeout_secs=30.0, reconnect_initial_secs=0.05
    ).follower_settings()
    sink = InMemorySink()
    session_id = await simulator.create_session()
    simulator.faults.set({"drop_live": True}, session_id=session_id)
    async with following(client, sink, session_id, settings=settings):
        await inject_burst(simulator, session_id, count=20, per_second=200)
        published = await _matches_truth(simulator, sink, session_id)

    assert _truth(simulator, session_id) == published
