"""The SSE stream: framing, pings, live fan-out, double echo, previews."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from simulator import Simulator, SimulatorConfig
from tests.support.simulator import BETA_HEADERS, Frames, open_session

MESSAGE = {"type": "user.message", "content": [{"type": "text", "text": "hi"}]}


async def send(http: aiohttp.ClientSession, session_id: str, *events: dict[str, object]) -> dict:
    async with http.post(f"/v1/sessions/{session_id}/events", json={"events": events}) as response:
        return dict(await response.json())


def is_end_turn(name: str | None, data: bytes) -> bool:
    return name == "session.status_idle" and b'"end_turn"' in data


async def test_every_frame_names_its_event(http: aiohttp.ClientSession) -> None:
    """Each frame has `event:` equal to the data's type, through a whole turn."""
    session_id = await open_session(http)
    async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
        frames = Frames(response)
        await send(http, session_id, MESSAGE)
        seen = await frames.until(lambda name, data: name == "session.status_idle")

    assert [orjson.loads(data)["type"] for _, data in seen] == [name for name, _ in seen]


async def test_stream_content_type_is_event_stream(http: aiohttp.ClientSession) -> None:
    """The stream answers 200 text/event-stream."""
    session_id = await open_session(http)
    async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
        assert (200, "text/event-stream") == (response.status, response.content_type)


async def test_user_message_is_echoed_twice_with_one_id(http: aiohttp.ClientSession) -> None:
    """A queued user.message appears first with processed_at null, then stamped, same id."""
    session_id = await open_session(http)
    async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
        frames = Frames(response)
        sent = await send(http, session_id, MESSAGE)
        seen = await frames.until(lambda name, data: name == "session.status_running")

    echoes = [orjson.loads(d) for n, d in seen if n == "user.message"]
    expected_id = sent["data"][0]["id"]
    assert [(expected_id, True), (expected_id, False)] == [
        (e["id"], e["processed_at"] is None) for e in echoes
    ]


async def test_two_connections_receive_the_same_bytes(http: aiohttp.ClientSession) -> None:
    """Fan-out: two open streams of one session receive identical frames."""
    session_id = await open_session(http)
    url = f"/v1/sessions/{session_id}/events/stream"
    async with http.get(url) as first, http.get(url) as second:
        await send(http, session_id, MESSAGE)
        a = await Frames(first).until(is_end_turn)
        b = await Frames(second).until(is_end_turn)

    assert a == b


async def test_stream_does_not_replay_history(http: aiohttp.ClientSession) -> None:
    """A stream opened after a turn sees only later events (live only, no replay)."""
    session_id = await open_session(http)
    async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
        await send(http, session_id, MESSAGE)
        await Frames(response).until(is_end_turn)
    async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
        frames = Frames(response)
        sent = await send(http, session_id, MESSAGE)
        name, data = await frames.next()

    assert ("user.message", sent["data"][0]["id"]) == (name, orjson.loads(data)["id"])


@pytest.fixture
async def pinging() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(speed=200.0, ping_interval_secs=0.05)) as sim:
        yield sim


async def test_idle_stream_sends_pings(pinging: Simulator) -> None:
    """An idle stream carries `event: ping` frames at the configured interval."""
    async with aiohttp.ClientSession(pinging.base_url, headers=BETA_HEADERS) as http:
        session_id = await open_session(http)
        async with http.get(f"/v1/sessions/{session_id}/events/stream") as response:
            name, data = await Frames(response).next()

    assert ("ping", {"type": "ping"}) == (name, orjson.loads(data))


async def test_deltas_preview_the_message(http: aiohttp.ClientSession) -> None:
    """With event_deltas[]=agent.message, event_start and deltas precede the buffered message."""
    session_id = await open_session(http)
    url = f"/v1/sessions/{session_id}/events/stream?event_deltas[]=agent.message"
    async with http.get(url) as response:
        frames = Frames(response)
        await send(http, session_id, MESSAGE)
        seen = await frames.until(lambda name, data: name == "agent.message")

    message = orjson.loads(seen[-1][1])
    text = "".join(
        orjson.loads(d)["delta"]["content"]["text"] for n, d in seen if n == "event_delta"
    )
    start = next(orjson.loads(d) for n, d in seen if n == "event_start")
    assert (message["id"], message["content"][0]["text"]) == (
        start["event"]["id"],
        text.strip(),
    )


async def test_invalid_delta_type_is_rejected(http: aiohttp.ClientSession) -> None:
    """event_deltas[] with a type other than agent.message/agent.thinking gets 400."""
    session_id = await open_session(http)
    url = f"/v1/sessions/{session_id}/events/stream?event_deltas[]=agent.tool_use"
    async with http.get(url) as response:
        assert 400 == response.status
