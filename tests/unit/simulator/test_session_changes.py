"""Session update, archive and delete."""

from __future__ import annotations

import aiohttp
import anthropic
import orjson
import pytest

from simulator import Simulator, SimulatorConfig
from tests.support.simulator import BETA_HEADERS, Frames, open_session
from tests.support.waiting import until


async def test_update_patches_metadata_and_emits_session_updated(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """A metadata patch upserts and deletes keys; session.updated carries the full new bag."""
    session = await sdk.beta.sessions.create(
        agent="agent_1", environment_id="env_1", metadata={"a": "1", "b": "2"}
    )

    updated = await sdk.beta.sessions.update(session.id, metadata={"a": None, "c": "3"})

    events = [e async for e in sdk.beta.sessions.events.list(session.id)]
    expected = {"b": "2", "c": "3"}
    assert (expected, ["session.updated"], expected) == (
        updated.metadata,
        [e.type for e in events],
        events[0].metadata,
    )


async def test_update_without_change_emits_nothing(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """An update that changes nothing persists no session.updated."""
    session = await sdk.beta.sessions.create(
        agent="agent_1", environment_id="env_1", metadata={"a": "1"}
    )

    await sdk.beta.sessions.update(session.id, metadata={"a": "1"})

    assert [] == simulator.ground_truth(session.id)


async def test_adding_a_budget_later_is_rejected(sdk: anthropic.AsyncAnthropic) -> None:
    """A session created without a budget cannot get one: 400 budget_create_only."""
    session = await sdk.beta.sessions.create(agent="agent_1", environment_id="env_1")
    budget = {"type": "limit", "max_list_cost": {"amount": "2500", "currency": "USD"}}

    with pytest.raises(anthropic.BadRequestError) as raised:
        await sdk.beta.sessions.update(session.id, budget=budget)  # type: ignore[arg-type]

    assert "budget_create_only" == raised.value.body["error"]["details"]["error_code"]  # type: ignore[index]


async def test_archived_session_rejects_events_with_409(sdk: anthropic.AsyncAnthropic) -> None:
    """After archive, sending events gets 409 and the session reports archived_at."""
    session = await sdk.beta.sessions.create(agent="agent_1", environment_id="env_1")
    archived = await sdk.beta.sessions.archive(session.id)

    with pytest.raises(anthropic.ConflictError):
        await sdk.beta.sessions.events.send(
            session.id,
            events=[{"type": "user.message", "content": [{"type": "text", "text": "x"}]}],
        )

    assert archived.archived_at is not None


async def test_archived_sessions_are_hidden_from_list_by_default(
    sdk: anthropic.AsyncAnthropic,
) -> None:
    """list omits archived sessions unless include_archived=true."""
    session = await sdk.beta.sessions.create(agent="agent_1", environment_id="env_1")
    await sdk.beta.sessions.archive(session.id)

    default = await sdk.beta.sessions.list()
    everything = await sdk.beta.sessions.list(include_archived=True)

    assert ([], [session.id]) == ([s.id for s in default.data], [s.id for s in everything.data])


async def test_delete_ends_streams_with_session_deleted(http: aiohttp.ClientSession) -> None:
    """Deleting emits session.deleted on open streams, which then end; the session is gone."""
    session_id = await open_session(http)
    async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
        frames = Frames(response)
        async with http.delete(f"/v1/sessions/{session_id}") as deleted:
            body = orjson.loads(await deleted.read())
        name, _ = await frames.next()
        with pytest.raises(EOFError):
            await frames.next()
    async with http.get(f"/v1/sessions/{session_id}") as retrieved:
        status = retrieved.status

    assert ({"id": session_id, "type": "session_deleted"}, "session.deleted", 404) == (
        body,
        name,
        status,
    )


async def test_delete_while_running_is_rejected() -> None:
    """A running session cannot be deleted: 400 session_running, and it still exists."""
    async with Simulator(SimulatorConfig(speed=1.0)) as simulator:
        session_id = await simulator.create_session()
        await until(lambda: simulator.session(session_id).status == "running")
        async with (
            aiohttp.ClientSession(simulator.base_url, headers=BETA_HEADERS) as http,
            http.delete(f"/v1/sessions/{session_id}") as response,
        ):
            body = await response.json()

    assert (400, "session_running") == (response.status, body["error"]["details"]["error_code"])


async def test_budget_pauses_the_session_until_raised(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """A tiny budget: usage snapshot then idle budget_reached; a message is refused (400
    budget_reached) until the budget is raised."""
    budget = {"type": "limit", "max_list_cost": {"amount": "1", "currency": "USD"}}
    session = await sdk.beta.sessions.create(
        agent="agent_1",
        environment_id="env_1",
        budget=budget,  # type: ignore[arg-type]
    )
    message = {"type": "user.message", "content": [{"type": "text", "text": "go"}]}
    await sdk.beta.sessions.events.send(session.id, events=[message])  # type: ignore[list-item]
    await until(lambda: simulator.session(session.id).paused_at_budget)

    with pytest.raises(anthropic.BadRequestError) as refused:
        await sdk.beta.sessions.events.send(session.id, events=[message])  # type: ignore[list-item]
    raised = {"type": "limit", "max_list_cost": {"amount": "100000", "currency": "USD"}}
    await sdk.beta.sessions.update(session.id, budget=raised)  # type: ignore[arg-type]
    await sdk.beta.sessions.events.send(session.id, events=[message])  # type: ignore[list-item]

    events = [e async for e in sdk.beta.sessions.events.list(session.id)]
    first_idle = next(i for i, e in enumerate(events) if e.type == "session.status_idle")
    assert ("budget_reached", "budget_reached", "session.usage") == (
        refused.value.body["error"]["details"]["error_code"],  # type: ignore[index]
        events[first_idle].stop_reason.type,
        events[first_idle - 1].type,
    )
