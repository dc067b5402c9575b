"""Faults on demand: HTTP errors, stream cuts, stalls, duplicates, bad frames, dropped frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import anthropic
import orjson
import pytest

from simulator import FaultSpec, Simulator, SimulatorConfig
from tests.support.simulator import BETA_HEADERS, Frames, open_session

MESSAGE = {"type": "user.message", "content": [{"type": "text", "text": "go"}]}


async def send(http: aiohttp.ClientSession, session_id: str) -> None:
    async with http.post(f"/v1/sessions/{session_id}/events", json={"events": [MESSAGE]}) as r:
        assert 200 == r.status


async def test_http_fault_answers_n_requests_then_recovers(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """http_status=429 for 2 requests: two 429s with retry-after, then 200."""
    simulator.faults.set(FaultSpec(http_status=429, http_count=2, retry_after_secs=1.5))

    seen = []
    for _ in range(3):
        async with http.get("/v1/sessions") as response:
            seen.append((response.status, response.headers.get("retry-after")))

    assert [(429, "1.5"), (429, "1.5"), (200, None)] == seen


async def test_overloaded_fault_has_the_api_error_body(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """A 529 fault answers with error.type overloaded_error."""
    simulator.faults.set({"http_status": 529, "http_count": 1})

    async with http.get("/v1/sessions") as response:
        body = await response.json()

    assert (529, "overloaded_error") == (response.status, body["error"]["type"])


async def test_should_retry_header_is_sent(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """should_retry=False sends `x-should-retry: false` with the injected error."""
    simulator.faults.set(FaultSpec(http_status=500, http_count=1, should_retry=False))

    async with http.get("/v1/sessions") as response:
        header = response.headers.get("x-should-retry")

    assert (500, "false") == (response.status, header)


async def test_sdk_retries_through_transient_faults(simulator: Simulator) -> None:
    """The SDK's own retry policy gets through two 503s (x-should-retry honoured)."""
    simulator.faults.set(FaultSpec(http_status=503, http_count=2, retry_after_secs=0.01))
    async with anthropic.AsyncAnthropic(
        api_key="k", base_url=simulator.base_url, max_retries=2
    ) as client:
        page = await client.beta.sessions.list()

    assert [] == page.data


async def test_session_fault_does_not_touch_other_sessions(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """A fault set for one session leaves requests for another session alone."""
    troubled, healthy = await open_session(http), await open_session(http)
    simulator.faults.set(FaultSpec(http_status=502, http_count=5), session_id=troubled)

    async with (
        http.get(f"/v1/sessions/{troubled}") as bad,
        http.get(f"/v1/sessions/{healthy}") as ok,
    ):
        statuses = (bad.status, ok.status)

    assert (502, 200) == statuses


async def test_stream_cut_mid_frame_after_k_frames(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """cut_after_frames=2: two whole frames, then half a frame, then EOF."""
    session_id = await open_session(http)
    simulator.faults.set(FaultSpec(cut_after_frames=2), session_id=session_id)
    async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
        await send(http, session_id)
        raw = await asyncio.wait_for(response.content.read(), 20)

    frames = raw.split(b"\n\n")
    assert (3, True) == (len(frames), frames[-1] != b"" and not frames[-1].endswith(b"}"))


async def test_duplicate_deliveries(simulator: Simulator, http: aiohttp.ClientSession) -> None:
    """duplicate_every=1 delivers every frame twice in a row."""
    session_id = await open_session(http)
    simulator.faults.set(FaultSpec(duplicate_every=1), session_id=session_id)
    async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
        frames = Frames(response)
        await send(http, session_id)
        seen = [await frames.next() for _ in range(6)]

    assert seen[0::2] == seen[1::2]


async def test_in_stream_error_reaches_the_sdk(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic
) -> None:
    """error_after_frames=1: the SDK's stream raises APIStatusError from `event: error`."""
    session = await sdk.beta.sessions.create(agent="agent_1", environment_id="env_1")
    simulator.faults.set(FaultSpec(error_after_frames=1), session_id=session.id)
    stream = await sdk.beta.sessions.events.stream(session.id)
    await sdk.beta.sessions.events.send(session.id, events=[MESSAGE])  # type: ignore[list-item]

    with pytest.raises(anthropic.APIStatusError) as raised:
        async for _ in stream:
            pass

    assert "overloaded_error" == raised.value.body["error"]["type"]  # type: ignore[index]


async def test_malformed_and_invalid_utf8_frames(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """malformed_every / invalid_utf8_every insert undecodable frames before real ones."""
    session_id = await open_session(http)
    simulator.faults.set(FaultSpec(malformed_every=1, invalid_utf8_every=2), session_id=session_id)
    async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
        frames = Frames(response)
        await send(http, session_id)
        seen = [await frames.next() for _ in range(5)]

    bad = [data for _, data in seen if not is_json(data)]
    assert (b"{not json", True) == (bad[0], any(b"\xff" in data for data in bad))


async def test_dropped_frames_are_only_in_history(
    simulator: Simulator, sdk: anthropic.AsyncAnthropic, http: aiohttp.ClientSession
) -> None:
    """drop_live persists events (history, ground truth) without streaming them."""
    session_id = await open_session(http)
    async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
        frames = Frames(response)
        simulator.faults.set(FaultSpec(drop_live=True), session_id=session_id)
        injected = simulator.inject(session_id, {"type": "agent.message", "content": []})
        simulator.faults.clear(session_id)
        marker = simulator.inject(session_id, {"type": "agent.thinking"})
        _, data = await frames.next()

    history = [e.id async for e in sdk.beta.sessions.events.list(session_id)]
    assert ([injected["id"], marker["id"]], marker["id"]) == (history, orjson.loads(data)["id"])


@pytest.fixture
async def chatty() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(speed=200.0, ping_interval_secs=0.01)) as sim:
        yield sim


async def test_stall_sends_no_bytes(chatty: Simulator) -> None:
    """stall_after_frames=1, stall_secs=3: after the first frame even pings stop."""
    async with aiohttp.ClientSession(chatty.base_url, headers=BETA_HEADERS) as http:
        session_id = await open_session(http)
        chatty.faults.set(FaultSpec(stall_after_frames=1, stall_secs=3.0), session_id=session_id)
        async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
            frames = Frames(response)
            await send(http, session_id)
            await frames.until(lambda name, _: name != "ping")
            with pytest.raises(TimeoutError):
                await frames.next(limit_secs=1.0)


async def test_faults_admin_endpoint_sets_a_session_fault(
    simulator: Simulator, http: aiohttp.ClientSession
) -> None:
    """POST /_sim/faults?session_id=… sets that session's fault spec."""
    session_id = await open_session(http)
    async with http.post(
        f"/_sim/faults?session_id={session_id}", json={"http_status": 504, "http_count": 1}
    ) as response:
        assert 200 == response.status

    async with http.get(f"/v1/sessions/{session_id}") as response:
        body = await response.json()

    assert (504, "timeout_error") == (response.status, body["error"]["type"])


async def test_unknown_fault_field_is_rejected(http: aiohttp.ClientSession) -> None:
    """POST /_sim/faults with an unknown field gets 400 invalid_faults."""
    async with http.post("/_sim/faults", json={"explode": True}) as response:
        body = await response.json()

    assert (400, "invalid_faults") == (response.status, body["error"]["details"]["error_code"])


def is_json(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


async def test_rate_limit_answers_429_with_retry_after() -> None:
    """With other_rpm=2, the third request within a minute gets 429 and a retry-after."""
    async with (
        Simulator(SimulatorConfig(other_rpm=2)) as sim,
        aiohttp.ClientSession(sim.base_url, headers=BETA_HEADERS) as http,
    ):
        seen = []
        for _ in range(3):
            async with http.get("/v1/sessions") as response:
                seen.append((response.status, "retry-after" in response.headers))

    assert [(200, False), (200, False), (429, True)] == seen
