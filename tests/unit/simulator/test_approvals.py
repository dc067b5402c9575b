"""Approvals: always_ask tool uses, requires_action, allow / deny / partial answers, bad answers."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from simulator import Simulator
from tests.support.simulator import wait_for_requires_action
from tests.support.waiting import settled, until


def confirmation(tool_use_id: str, result: str, deny_message: str | None = None) -> dict:
    event = {"type": "user.tool_confirmation", "tool_use_id": tool_use_id, "result": result}
    if deny_message is not None:
        event["deny_message"] = deny_message
    return event


async def history(sdk: anthropic.AsyncAnthropic, session_id: str) -> list:
    return [e async for e in sdk.beta.sessions.events.list(session_id)]


async def result_for(sdk: anthropic.AsyncAnthropic, session_id: str, tool_use_id: str) -> Any:
    """The agent.tool_result answering `tool_use_id`, once it is in history (20 s at most)."""

    async def found() -> Any:
        events = await history(sdk, session_id)
        return next((e for e in events if e.type == "agent.tool_result"
                     and e.tool_use_id == tool_use_id), None)  # fmt: skip

    event = await settled(found, done=lambda e: e is not None, timeout_secs=20, stable_secs=0)
    if event is None:
        raise AssertionError("no tool result")
    return event


async def test_requires_action_lists_the_asked_tool_uses(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """The idle event's event_ids are exactly the agent.tool_use events with permission ask."""
    session_id = await simulator.create_session(scenario="coding")
    pending = await wait_for_requires_action(simulator, session_id)

    events = await history(sdk, session_id)

    asked = [e.id for e in events if e.type == "agent.tool_use" and e.evaluated_permission == "ask"]
    assert (asked, asked) == (pending, events[-1].stop_reason.event_ids)


async def test_allow_runs_the_tool(simulator: Simulator, sdk: anthropic.AsyncAnthropic) -> None:
    """Allowing a pending tool use produces a non-error agent.tool_result for it."""
    session_id = await simulator.create_session(scenario="coding")
    pending = await wait_for_requires_action(simulator, session_id)

    await sdk.beta.sessions.events.send(
        session_id, events=[confirmation(i, "allow") for i in pending]
    )

    result = await result_for(sdk, session_id, pending[0])
    assert False is result.is_error


async def test_deny_yields_error_result_with_the_message(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """Denying yields an error agent.tool_result whose text is the deny message."""
    session_id = await simulator.create_session(scenario="coding")
    pending = await wait_for_requires_action(simulator, session_id)

    await sdk.beta.sessions.events.send(
        session_id, events=[confirmation(i, "deny", "no deletes here") for i in pending]
    )

    result = await result_for(sdk, session_id, pending[0])
    assert (True, "no deletes here") == (result.is_error, result.content[0].text)


async def test_partial_answer_re_emits_idle_with_the_rest(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """Answering one of several pending ids re-emits requires_action with the others."""
    pending: list[str] = []
    for seed in range(40):
        session_id = await simulator.create_session(scenario="coding", metadata={"n": str(seed)})
        pending = await wait_for_requires_action(simulator, session_id)
        if len(pending) > 1:
            break
    assert len(pending) > 1, "no session asked for two approvals at once"

    await sdk.beta.sessions.events.send(session_id, events=[confirmation(pending[0], "allow")])

    await until(lambda: simulator.ground_truth(session_id)[-1]["type"] == "session.status_idle")
    events = await history(sdk, session_id)
    assert pending[1:] == events[-1].stop_reason.event_ids


async def test_unknown_tool_use_id_is_rejected(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """A confirmation for an id that is not pending gets 400 tool_use_not_pending."""
    session_id = await simulator.create_session(scenario="coding")
    await wait_for_requires_action(simulator, session_id)

    with pytest.raises(anthropic.BadRequestError) as raised:
        await sdk.beta.sessions.events.send(
            session_id, events=[confirmation("sevt_01unknown", "allow")]
        )

    assert "tool_use_not_pending" == raised.value.body["error"]["details"]["error_code"]


async def test_second_answer_to_the_same_id_is_rejected(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """Answering an already-answered id gets 400 and persists nothing more."""
    session_id = await simulator.create_session(scenario="coding")
    pending = await wait_for_requires_action(simulator, session_id)
    await sdk.beta.sessions.events.send(
        session_id, events=[confirmation(i, "allow") for i in pending]
    )

    with pytest.raises(anthropic.BadRequestError):
        await sdk.beta.sessions.events.send(session_id, events=[confirmation(pending[0], "deny")])

    await result_for(sdk, session_id, pending[0])
    confirmations = [
        r for r in simulator.ground_truth(session_id) if r["type"] == "user.tool_confirmation"
    ]
    assert len(pending) == len(confirmations)


async def test_deny_message_with_allow_is_rejected_and_changes_nothing(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """deny_message with result allow gets 400; the id stays pending."""
    session_id = await simulator.create_session(scenario="coding")
    pending = await wait_for_requires_action(simulator, session_id)

    with pytest.raises(anthropic.BadRequestError):
        await sdk.beta.sessions.events.send(
            session_id, events=[confirmation(pending[0], "allow", "why")]
        )

    assert pending == simulator.session(session_id).waiting_ids()


async def test_unknown_event_type_is_rejected(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """Sending an event type that is not a client event gets 400 invalid_event_type."""
    session = await sdk.beta.sessions.create(agent="agent_1", environment_id="env_1")

    with pytest.raises(anthropic.BadRequestError) as raised:
        await sdk.post(
            f"/v1/sessions/{session.id}/events",
            body={"events": [{"type": "agent.message", "content": []}]},
            cast_to=object,
            options={"headers": {"anthropic-beta": "managed-agents-2026-04-01"}},
        )

    assert "invalid_event_type" == raised.value.body["error"]["details"]["error_code"]
