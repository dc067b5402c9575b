"""Delta previews end to end: the simulator's previews → streamer → the deltas topic of real Kafka.

With `deltas_enabled` the follower asks for `event_deltas[]`; the previews reach the deltas topic
and nothing else: the events topic still holds exactly the ground truth, and the checkpoints
(dedupe state) only ever name persisted events.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest
from pydantic import SecretStr

from simulator import Simulator
from streamer.config import StreamerSettings
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.service import Service
from tests.support.kafka import unique_name
from tests.support.simulator import BETA_HEADERS
from tests.support.truth import mismatch, read_topic, topic_by_session, truth_by_session
from tests.support.waiting import settled

pytestmark = pytest.mark.kafka


def _settings(sim: Simulator, session_id: str) -> StreamerSettings:
    return StreamerSettings(
        base_url=sim.base_url, api_key=SecretStr("sk-test"), session_ids=(session_id,),
        discover=False, http_port=0, reconnect_initial_secs=0.05, reconnect_max_secs=0.5,
    )  # fmt: skip


def _kafka(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        events_topic=unique_name("events"),
        checkpoints_topic=unique_name("checkpoints"),
        dead_letter_topic=unique_name("dlq"),
        deltas_topic=unique_name("deltas"),
    )


def _sink(base_url: str) -> SinkSettings:
    return SinkSettings(
        transactional_id=unique_name("tx"), api_base_url=base_url, events_partitions=2,
        checkpoints_partitions=2, deltas_partitions=2, commit_interval_ms=20, deltas_enabled=True,
    )  # fmt: skip


def _preview_ids(values: list[dict[str, Any]]) -> set[str]:
    """The event ids the previews announce (`event_start`) or extend (`event_delta`)."""
    return {v["event"]["id"] if v["type"] == "event_start" else v["event_id"] for v in values}


async def _say(base_url: str, session_id: str) -> None:
    """Start a turn: a `user.message` through the API."""
    body = {"events": [{"type": "user.message", "content": [{"type": "text", "text": "go"}]}]}
    path = f"/v1/sessions/{session_id}/events"
    async with (
        aiohttp.ClientSession(base_url=base_url, headers=BETA_HEADERS) as http,
        http.post(path, json=body) as response,
    ):
        assert response.status == 200, await response.text()


async def test_previews_reach_the_deltas_topic_and_nothing_else(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """Every preview on the deltas topic belongs to a persisted agent.message/agent.thinking of
    the events topic, which holds the ground truth exactly, and no checkpoint names a preview."""
    session_id = simulator.core.create_session(autopilot=False)
    kafka = _kafka(kafka_bootstrap)
    async with Service(_settings(simulator, session_id), kafka=kafka,
                       sink_settings=_sink(simulator.base_url)) as service:  # fmt: skip
        # Previews are live only: the turn starts once the streamer's stream is open.
        await settled(lambda: len(simulator.session(session_id).hub.connections), done=bool)
        await _say(simulator.base_url, session_id)
        truth = await settled(
            lambda: truth_by_session(simulator.ground_truth(), [session_id]),
            done=lambda t: "agent.message" in _types(simulator, session_id),
            stable_secs=2.0,
        )
        deltas = await read_topic(kafka_bootstrap, kafka.deltas_topic, expected=3)
        expected = sum(len(ids) for ids in truth.values())
        events = await read_topic(kafka_bootstrap, kafka.events_topic, expected=expected)
        checkpoint = (await service.sink.checkpoints()).get(session_id)
    on_topic = topic_by_session(events)
    previews = [orjson.loads(r.value) for r in deltas]
    rows = {t["event_id"]: t for t in simulator.ground_truth(session_id)}
    previewed = {rows[i]["type"] for i in _preview_ids(previews) if i in rows}

    assert truth == on_topic, mismatch(truth, on_topic)
    assert {"event_start", "event_delta"} == {p["type"] for p in previews}
    assert {session_id} == {r.key for r in deltas}
    assert {"agent.message", "agent.thinking"} == previewed
    assert _preview_ids(previews) <= set(rows), "a preview of an event never persisted"
    assert checkpoint is not None
    assert set(checkpoint.boundary_ids) <= set(truth[session_id])


def _types(simulator: Simulator, session_id: str) -> set[str]:
    return {t["type"] for t in simulator.ground_truth(session_id)}
