"""The session engine: autopilot, usage totals, interrupts, errors, threads, outcomes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest

from simulator import Simulator, SimulatorConfig
from simulator.engine.tooling import INTERRUPTED_TEXT
from tests.support.simulator import (
    ALLOW_ALL,
    answer_everything,
    wait_for_requires_action,
)
from tests.support.waiting import until


async def history(client: anthropic.AsyncAnthropic, session_id: str) -> list[Any]:
    return [e async for e in client.beta.sessions.events.list(session_id)]


async def test_created_session_starts_with_the_users_message(simulator: Simulator) -> None:
    """create_session starts the session: its first persisted event is a user.message."""
    session_id = await simulator.create_session()

    await until(lambda: len(simulator.ground_truth(session_id)) > 0)

    assert "user.message" == simulator.ground_truth(session_id)[0]["type"]


async def test_usage_totals_add_up(simulator: Simulator, sdk: anthropic.AsyncAnthropic) -> None:
    """Session usage equals the sum of every span's model usage, in each token field."""
    session_id = await simulator.create_session(scenario="mixed")
    await answer_everything(simulator, sdk, session_id)

    events = await history(sdk, session_id)
    session = await sdk.beta.sessions.retrieve(session_id)

    spans = [e.model_usage for e in events if e.type == "span.model_request_end"]
    spans += [e.usage for e in events if e.type == "span.outcome_evaluation_end"]
    usage = session.usage
    assert (
        sum(u.input_tokens for u in spans),
        sum(u.output_tokens for u in spans),
        sum(u.cache_read_input_tokens for u in spans),
        sum(u.cache_creation_input_tokens for u in spans),
    ) == (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation.ephemeral_5m_input_tokens if usage.cache_creation else None,
    )


async def test_interrupt_while_blocked_closes_pending_calls(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """An interrupt during requires_action: error result per pending call, then idle end_turn."""
    session_id = await simulator.create_session(scenario="coding")
    pending = await wait_for_requires_action(simulator, session_id)

    await sdk.beta.sessions.events.send(session_id, events=[{"type": "user.interrupt"}])

    await until(
        lambda: (
            simulator.session(session_id).status == "idle"
            and simulator.ground_truth(session_id)[-1]["type"] == "session.status_idle"
            and not simulator.session(session_id).pending
        )
    )
    events = await history(sdk, session_id)
    results = {e.tool_use_id: e for e in events if e.type == "agent.tool_result"}
    texts = [(results[i].is_error, results[i].content[0].text) for i in pending]
    assert ([(True, INTERRUPTED_TEXT)] * len(pending), "end_turn") == (
        texts,
        events[-1].stop_reason.type,
    )


STATUS_EVENTS = {"session.status_rescheduled", "session.status_idle", "session.status_terminated"}


@pytest.fixture
async def chaos() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(scenario="chaos", seed=3, speed=2000.0)) as sim:
        yield sim


async def test_chaos_errors_follow_their_retry_status(chaos: Simulator) -> None:
    """Each session.error is followed by what its retry_status says: rescheduled, idle
    retries_exhausted, or terminated; and all three statuses occur."""
    async with anthropic.AsyncAnthropic(api_key="k", base_url=chaos.base_url, max_retries=0) as sdk:
        ids = [await chaos.create_session() for _ in range(24)]
        for session_id in ids:
            await answer_everything(chaos, sdk, session_id)
        followers: dict[str, set[str]] = {}
        for session_id in ids:
            events = await history(sdk, session_id)
            for index, error in enumerate(events):
                if error.type == "session.error":
                    status = next(e for e in events[index:] if e.type in STATUS_EVENTS)
                    reason = getattr(getattr(status, "stop_reason", None), "type", "")
                    followers.setdefault(error.error.retry_status.type, set()).add(
                        f"{status.type}:{reason}"
                    )

    assert {
        "retrying": {"session.status_rescheduled:"},
        "exhausted": {"session.status_idle:retries_exhausted"},
        "terminal": {"session.status_terminated:"},
    } == followers


AT_ONCE = [
    "user.message",
    "session.status_running",
    "span.model_request_start",
    "span.model_request_end",
    "session.error",
    "session.status_terminated",
]


async def test_some_chaos_sessions_fail_at_once(chaos: Simulator) -> None:
    """Chaos sessions sometimes end at their first model request (a terminal error), so they
    are created and gone between two discovery passes; the others play their turns."""
    ids = [await chaos.create_session() for _ in range(24)]
    await until(lambda: all(chaos.ground_truth(s) for s in ids))
    await until(lambda: sum(chaos.session(s).status == "terminated" for s in ids) >= 2)

    plays = {s: [row["type"] for row in chaos.ground_truth(s)] for s in ids}
    at_once = [s for s, types in plays.items() if types == AT_ONCE]
    errors = [e for s in at_once for e in chaos.session(s).log.events if e.type == "session.error"]
    assert 0 < len(at_once) < len(ids) // 2, plays
    assert all(b'"terminal"' in e.body for e in errors), errors


async def test_cross_posted_approval_routes_to_its_thread() -> None:
    """A subagent's approval request is cross-posted with session_thread_id; the processed
    confirmation names the thread, and the tool result lands in the thread's history."""
    async with (
        Simulator(SimulatorConfig(scenario="mixed", seed=5, speed=2000.0)) as sim,
        anthropic.AsyncAnthropic(api_key="k", base_url=sim.base_url, max_retries=0) as sdk,
    ):
        for _ in range(40):
            session_id = await sim.create_session()
            await answer_everything(sim, sdk, session_id)
            events = await history(sdk, session_id)
            crossed = [e for e in events if e.type == "agent.tool_use" and e.session_thread_id]
            if crossed:
                break
        assert crossed, "no subagent asked for approval"
        use = crossed[0]
        confirmation = next(
            e
            for e in events
            if e.type == "user.tool_confirmation" and e.tool_use_id == use.id and e.processed_at
        )
        thread_events = [
            e
            async for e in sdk.beta.sessions.threads.events.list(
                use.session_thread_id, session_id=session_id
            )
        ]

    results = [e.tool_use_id for e in thread_events if e.type == "agent.tool_result"]
    assert (use.session_thread_id, True) == (confirmation.session_thread_id, use.id in results)


async def test_threads_list_has_primary_and_subagents(sdk: anthropic.AsyncAnthropic) -> None:
    """threads.list of a new session returns only its primary thread (parent null)."""
    session = await sdk.beta.sessions.create(agent="agent_1", environment_id="env_1")

    threads = [t async for t in sdk.beta.sessions.threads.list(session.id)]

    assert [None] == [t.parent_thread_id for t in threads]


async def test_outcome_is_evaluated(simulator: Simulator, sdk: anthropic.AsyncAnthropic) -> None:
    """user.define_outcome starts work ending in span.outcome_evaluation_end for its outcome."""
    agent = {"type": "agent_with_overrides", "id": "agent_1", "tools": [ALLOW_ALL]}
    session = await sdk.beta.sessions.create(agent=agent, environment_id="env_1")  # type: ignore[arg-type]
    rubric = {"type": "text", "content": "tests pass"}
    sent = await sdk.beta.sessions.events.send(
        session.id,
        events=[{"type": "user.define_outcome", "description": "fix it", "rubric": rubric}],
    )
    outcome_id = sent.data[0].outcome_id

    await until(lambda: simulator.ground_truth(session.id)[-1]["type"] == "session.status_idle")
    ends = [e for e in await history(sdk, session.id) if e.type == "span.outcome_evaluation_end"]

    assert {outcome_id} == {e.outcome_id for e in ends}


async def test_ground_truth_file_matches_memory(tmp_path: Path) -> None:
    """--ground-truth PATH receives one JSONL line per persisted event, as ground_truth() has."""
    path = tmp_path / "truth.jsonl"
    sim = Simulator(SimulatorConfig(speed=2000.0, ground_truth_path=path))
    async with sim:
        session_id = await sim.create_session()
        await wait_for_requires_action(sim, session_id)
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]

    assert sim.ground_truth() == lines


async def test_interrupt_while_running_ends_the_turn() -> None:
    """An interrupt during a running turn jumps the queue: the turn ends idle end_turn, and the
    interrupt is persisted (processed) before that idle."""
    async with (
        Simulator(SimulatorConfig(speed=1.0, user_turns=1)) as sim,
        anthropic.AsyncAnthropic(api_key="k", base_url=sim.base_url, max_retries=0) as sdk,
    ):
        session_id = await sim.create_session()
        await until(lambda: sim.session(session_id).status == "running")
        await sdk.beta.sessions.events.send(session_id, events=[{"type": "user.interrupt"}])

        def types() -> list[str]:
            return [row["type"] for row in sim.ground_truth(session_id)]

        def idle_after_interrupt() -> bool:
            seen = types()
            return (
                "user.interrupt" in seen
                and "session.status_idle" in seen[seen.index("user.interrupt") :]
            )

        await until(idle_after_interrupt)
        seen = types()

    assert ["user.interrupt", "session.usage", "session.status_idle"] == [
        t for t in seen[seen.index("user.interrupt") :] if t != "agent.tool_result"
    ][:3]


async def next_cross_posted(sim: Simulator, sdk: anthropic.AsyncAnthropic) -> tuple[str, Any]:
    """A session blocked on a subagent's cross-posted approval, answering everything else."""
    for _ in range(40):
        session_id = await sim.create_session()
        session = sim.session(session_id)
        while not (session.autopilot_done and session.status in ("idle", "terminated")):
            await until(lambda s=session: bool(s.waiting_ids()) or s.autopilot_done)
            pending = [session.pending[i].event for i in session.waiting_ids()]
            crossed = [use for use in pending if use.get("session_thread_id")]
            if crossed:
                return session_id, crossed[0]
            if pending:
                await sdk.beta.sessions.events.send(session_id, events=answers_for(pending))
                await until(lambda s=session, p=pending: p[0]["id"] not in s.pending)
    raise AssertionError("no subagent asked for approval")


def answers_for(uses: list[dict[str, Any]]) -> list[Any]:
    return [
        {"type": "user.custom_tool_result", "custom_tool_use_id": use["id"], "content": []}
        if use["type"] == "agent.custom_tool_use"
        else {"type": "user.tool_confirmation", "tool_use_id": use["id"], "result": "allow"}
        for use in uses
    ]


async def test_thread_stream_carries_the_subagents_tool_result() -> None:
    """The subagent thread's own stream delivers its tool result once its approval is allowed."""
    async with (
        Simulator(SimulatorConfig(scenario="mixed", seed=9, speed=2000.0)) as sim,
        anthropic.AsyncAnthropic(api_key="k", base_url=sim.base_url, max_retries=0) as sdk,
    ):
        session_id, use = await next_cross_posted(sim, sdk)
        thread_id = use["session_thread_id"]
        stream = await sdk.beta.sessions.threads.events.stream(thread_id, session_id=session_id)
        async with stream:
            pending = [
                sim.session(session_id).pending[i].event
                for i in sim.session(session_id).waiting_ids()
            ]
            await sdk.beta.sessions.events.send(session_id, events=answers_for(pending))
            async for event in stream:
                if event.type == "agent.tool_result" and event.tool_use_id == use["id"]:
                    break

    assert (False, thread_id) == (event.is_error, use["session_thread_id"])
