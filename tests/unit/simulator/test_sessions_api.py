"""Sessions endpoints, driven by the official SDK over real HTTP."""

from __future__ import annotations

import anthropic
import pytest

from simulator import Simulator
from tests.support.waiting import until


async def test_create_returns_an_idle_session(sdk: anthropic.AsyncAnthropic) -> None:
    """POST /v1/sessions returns a typed Session that starts idle, with the given metadata."""
    session = await sdk.beta.sessions.create(
        agent="agent_01abc", environment_id="env_01abc", metadata={"team": "infra"}
    )

    assert ("idle", {"team": "infra"}) == (session.status, session.metadata)


async def test_retrieve_returns_the_created_session(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """GET /v1/sessions/{id} returns the session the simulator created."""
    session_id = await simulator.create_session(metadata={"k": "v"})

    session = await sdk.beta.sessions.retrieve(session_id)

    assert (session_id, {"k": "v"}) == (session.id, session.metadata)


async def test_retrieve_unknown_session_is_not_found(sdk: anthropic.AsyncAnthropic) -> None:
    """An unknown session id gets 404 not_found_error."""
    with pytest.raises(anthropic.NotFoundError) as raised:
        await sdk.beta.sessions.retrieve("sesn_01doesnotexist")

    assert 404 == raised.value.status_code


async def test_list_pages_cover_every_session_newest_first(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """Auto-paging the list (limit 2) yields every session once, newest first by default."""
    created = [
        (await sdk.beta.sessions.create(agent="agent_1", environment_id="env_1")).id
        for _ in range(5)
    ]

    listed = [session.id async for session in sdk.beta.sessions.list(limit=2)]

    assert list(reversed(created)) == listed


async def test_list_first_page_has_no_prev_page(sdk: anthropic.AsyncAnthropic) -> None:
    """The first page's prev_page is null and a later page's prev_page leads back to it."""
    for _ in range(3):
        await sdk.beta.sessions.create(agent="agent_1", environment_id="env_1")
    first = await sdk.beta.sessions.list(limit=2)
    second = await sdk.beta.sessions.list(limit=2, page=first.next_page)

    back = await sdk.beta.sessions.list(limit=2, page=second.prev_page)

    assert (None, [s.id for s in first.data]) == (first.prev_page, [s.id for s in back.data])


async def test_list_filters_by_status(sdk: anthropic.AsyncAnthropic) -> None:
    """statuses[]=running matches none of the idle sessions; statuses[]=idle matches them."""
    await sdk.beta.sessions.create(agent="agent_1", environment_id="env_1")

    running = await sdk.beta.sessions.list(statuses=["running"])
    idle = await sdk.beta.sessions.list(statuses=["idle"])

    assert (0, 1) == (len(running.data), len(idle.data))


async def test_cursor_from_another_order_is_rejected(sdk: anthropic.AsyncAnthropic) -> None:
    """A cursor made for order=desc used with order=asc gets 400 page_cursor_order_mismatch."""
    for _ in range(3):
        await sdk.beta.sessions.create(agent="agent_1", environment_id="env_1")
    first = await sdk.beta.sessions.list(limit=1, order="desc")

    with pytest.raises(anthropic.BadRequestError) as raised:
        await sdk.beta.sessions.list(limit=1, order="asc", page=first.next_page)

    assert "page_cursor_order_mismatch" == error_code(raised.value)


async def test_create_without_environment_is_rejected(sdk: anthropic.AsyncAnthropic) -> None:
    """A create body without environment_id gets 400 invalid_request_error."""
    with pytest.raises(anthropic.BadRequestError) as raised:
        await sdk.post(
            "/v1/sessions",
            body={"agent": "agent_1"},
            cast_to=object,
            options={"headers": {"anthropic-beta": "managed-agents-2026-04-01"}},
        )

    assert "invalid_environment" == error_code(raised.value)


def error_code(error: anthropic.APIStatusError) -> str:
    body = error.body
    assert isinstance(body, dict)
    return str(body["error"]["details"]["error_code"])


async def test_initial_events_start_the_session(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """initial_events are processed in order: the session's history starts with them."""
    message = {"type": "user.message", "content": [{"type": "text", "text": "start"}]}
    session = await sdk.beta.sessions.create(
        agent="agent_1",
        environment_id="env_1",
        initial_events=[message],  # type: ignore[list-item]
    )

    await until(lambda: len(simulator.ground_truth(session.id)) > 1)

    assert ["user.message", "session.status_running"] == [
        row["type"] for row in simulator.ground_truth(session.id)[:2]
    ]


async def test_invalid_initial_events_create_nothing(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """An initial event of another type rejects the whole create (400); no session exists."""
    confirmation = {"type": "user.tool_confirmation", "tool_use_id": "x", "result": "allow"}

    with pytest.raises(anthropic.BadRequestError):
        await sdk.beta.sessions.create(
            agent="agent_1",
            environment_id="env_1",
            initial_events=[confirmation],  # type: ignore[list-item]
        )

    assert [] == (await sdk.beta.sessions.list()).data


async def test_prev_page_walks_back_to_the_start(sdk: anthropic.AsyncAnthropic) -> None:
    """Following prev_page from the last page returns the pages in reverse, ending with a
    first page whose prev_page is null."""
    for _ in range(5):
        await sdk.beta.sessions.create(agent="agent_1", environment_id="env_1")
    pages = [await sdk.beta.sessions.list(limit=2)]
    while pages[-1].next_page:
        pages.append(await sdk.beta.sessions.list(limit=2, page=pages[-1].next_page))
    back = [pages[-1]]
    while back[-1].prev_page:
        back.append(await sdk.beta.sessions.list(limit=2, page=back[-1].prev_page))

    assert [[s.id for s in p.data] for p in reversed(pages)] == [
        [s.id for s in p.data] for p in back
    ]
