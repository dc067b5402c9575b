"""Events list: pagination, order, types[] and created_at[] filters, against ground truth."""

from __future__ import annotations

import anthropic
import pytest

from simulator import Simulator
from tests.support.simulator import wait_for_requires_action


async def blocked_session(simulator: Simulator) -> str:
    """A coding session that ran until it waits for an approval (so its history is fixed)."""
    session_id = await simulator.create_session(scenario="coding")
    await wait_for_requires_action(simulator, session_id)
    return session_id


async def test_paging_asc_returns_ground_truth_in_order(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """Following next_page with limit=3 yields exactly the persisted events, in order."""
    session_id = await blocked_session(simulator)

    ids = [e.id async for e in sdk.beta.sessions.events.list(session_id, limit=3, order="asc")]

    assert [row["event_id"] for row in simulator.ground_truth(session_id)] == ids


async def test_paging_desc_is_reverse_order(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """order=desc yields the same events newest first."""
    session_id = await blocked_session(simulator)

    ids = [e.id async for e in sdk.beta.sessions.events.list(session_id, limit=2, order="desc")]

    assert [row["event_id"] for row in reversed(simulator.ground_truth(session_id))] == ids


async def test_types_filter_keeps_only_named_types(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """types[] keeps only events of the listed types."""
    session_id = await blocked_session(simulator)
    wanted = {"agent.tool_use", "session.status_idle"}

    events = [e async for e in sdk.beta.sessions.events.list(session_id, types=sorted(wanted))]

    expected = [r["event_id"] for r in simulator.ground_truth(session_id) if r["type"] in wanted]
    assert expected == [e.id for e in events]


async def test_created_at_gte_compares_processed_at(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """created_at[gte]=<an event's processed_at> returns that event and everything after it."""
    session_id = await blocked_session(simulator)
    truth = simulator.ground_truth(session_id)
    middle = truth[len(truth) // 2]
    page = await sdk.beta.sessions.events.list(session_id)
    since = next(e.processed_at for e in page.data if e.id == middle["event_id"])

    events = [e.id async for e in sdk.beta.sessions.events.list(session_id, created_at_gte=since)]

    assert [r["event_id"] for r in truth[len(truth) // 2 :]] == events


async def test_last_page_has_null_next_page(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """A page that reaches the end of history has next_page null."""
    session_id = await blocked_session(simulator)

    page = await sdk.beta.sessions.events.list(session_id, limit=1000)

    assert (None, len(simulator.ground_truth(session_id))) == (page.next_page, len(page.data))


async def test_garbled_cursor_is_rejected(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """A cursor that the simulator did not produce gets 400 invalid_page_cursor."""
    session_id = await simulator.create_session()

    with pytest.raises(anthropic.BadRequestError) as raised:
        await sdk.beta.sessions.events.list(session_id, page="page_garbage!!")

    assert 400 == raised.value.status_code


async def test_inject_persists_unknown_types(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """inject() persists an event of an unknown type with an assigned id; history returns it."""
    session = await sdk.beta.sessions.create(agent="agent_1", environment_id="env_1")

    injected = simulator.inject(session.id, {"type": "agent.future_thing", "x": 1})

    page = await sdk.beta.sessions.events.list(session.id)
    assert [injected["id"]] == [e.id for e in page.data]
