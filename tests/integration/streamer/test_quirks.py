"""The API's quirks the simulator's own stamps and ids never show (spec §1.3, §8): several events
sharing one `processed_at` at reconnect and restart boundaries, and events with an empty `id`.

The simulator's `stamp_ties` / `empty_id_types` faults produce both. Ground truth is the session's
own history: what reaches the sink (or Kafka) must be exactly its events, each once, in order.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from simulator import Simulator
from streamer.api import ApiClient
from streamer.config import StreamerSettings
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.service import Service
from streamer.sink import InMemorySink
from tests.integration.streamer.conftest import FAST, following
from tests.support.flow import inject_burst
from tests.support.kafka import unique_name
from tests.support.truth import read_topic
from tests.support.waiting import settled

QUIRKS: dict[str, Any] = {"stamp_ties": 3, "empty_id_types": ["test.tick"]}


def _history(sim: Simulator, session_id: str) -> list[dict[str, Any]]:
    """The session's persisted events, in history order."""
    return [orjson.loads(e.body) for e in sim.session(session_id).log.events]


def _published(sink: InMemorySink) -> list[dict[str, Any]]:
    return [orjson.loads(e.raw) for e in sink.events]


def _quiet_session(sim: Simulator, fault: dict[str, Any]) -> str:
    """A session with no simulated user (only injected events), under `fault`."""
    session_id = sim.core.create_session(autopilot=False)
    sim.faults.set(dict(fault), session_id=session_id)
    return session_id


async def test_ties_and_empty_ids_across_reconnects(
    simulator: Simulator, client: ApiClient
) -> None:
    """Streams cut every few frames, duplicated frames, history paged two at a time, runs of
    three events per `processed_at` and empty ids: every event once, in order."""
    fault = {**QUIRKS, "cut_after_frames": 4, "duplicate_every": 2}
    session_id = _quiet_session(simulator, fault)
    sink = InMemorySink()
    settings = dataclasses.replace(FAST, history_page_limit=2)
    async with following(client, sink, session_id, settings=settings):
        await inject_burst(simulator, session_id, count=60, per_second=300)
        published = await settled(
            lambda: _published(sink), done=lambda p: p == _history(simulator, session_id)
        )
    history = _history(simulator, session_id)

    assert history == published
    assert 60 == sum(1 for e in history if e["id"] == "")
    assert len({e["processed_at"] for e in history}) == 20


def _settings(sim: Simulator, session_id: str) -> StreamerSettings:
    return StreamerSettings(
        base_url=sim.base_url, api_key=SecretStr("sk-test"), session_ids=(session_id,),
        discover=False, http_port=0, reconnect_initial_secs=0.05, reconnect_max_secs=0.5,
    )  # fmt: skip


@pytest.mark.kafka
async def test_ties_and_empty_ids_across_a_restart(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """A streamer stopped between two events of one `processed_at` (its checkpoint holds a
    boundary of two) and started again: Kafka holds every event once, in order."""
    session_id = _quiet_session(simulator, QUIRKS)
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, events_topic=unique_name("events"),
        checkpoints_topic=unique_name("checkpoints"), dead_letter_topic=unique_name("dlq"),
    )  # fmt: skip
    sink = SinkSettings(transactional_id=unique_name("tx"), events_partitions=2,
                        checkpoints_partitions=2, commit_interval_ms=20)  # fmt: skip
    settings = _settings(simulator, session_id)
    async with Service(settings, kafka=kafka, sink_settings=sink) as first:
        await settled(lambda: len(simulator.session(session_id).hub.connections), done=bool)
        for n in range(2):
            simulator.inject(session_id, {"type": "test.tick", "n": n})
        await read_topic(kafka_bootstrap, kafka.events_topic, expected=2, quiet_secs=0)
    boundary = (await first.sink.checkpoints())[session_id].boundary_ids
    for n in range(2, 8):
        simulator.inject(session_id, {"type": "test.tick", "n": n})
    async with Service(settings, kafka=kafka, sink_settings=sink):
        records = await read_topic(kafka_bootstrap, kafka.events_topic, expected=8)
    history = _history(simulator, session_id)

    assert (2, history) == (len(boundary), [orjson.loads(r.value) for r in records])
