"""Long uptimes: finished sessions are forgotten after the retention, and never streamed twice.

Against the simulator over HTTP and a real broker: the sink drops a finished session's checkpoint
once the session ended longer ago than `finished_retention_secs` and tombstones it on the compacted
topic; a forgotten session announced again is refused by the follower's retention check instead
of being published a second time.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from prometheus_client import REGISTRY

from simulator import Simulator
from streamer.api import ApiClient
from streamer.kafka.admin import load_checkpoints
from streamer.kafka.config import KafkaSettings
from streamer.kafka.sink import KafkaSink
from streamer.supervisor import Supervisor
from tests.integration.streamer.conftest import FAST, truth
from tests.integration.streamer.kafka.conftest import ids_by_session, read_topic, sink_settings
from tests.integration.streamer.test_discovery import ended_session
from tests.support.waiting import settled

pytestmark = pytest.mark.kafka

RETENTION = 2.0
FOLLOWING = dataclasses.replace(FAST, finished_retention_secs=RETENTION)


def _forgotten() -> float:
    return REGISTRY.get_sample_value("agents_streamer_sink_checkpoints_forgotten_total") or 0.0


async def test_finished_sessions_are_forgotten_and_never_streamed_twice(
    simulator: Simulator, client: ApiClient, kafka_settings: KafkaSettings
) -> None:
    """Ended sessions are streamed, then forgotten (memory and topic) once the retention has
    passed; announced again, they are refused and the topic still holds each event once."""
    settings = sink_settings(finished_retention_secs=RETENTION, commit_interval_ms=20)
    forgotten_before = _forgotten()
    outcomes: list[str] = []
    async with (
        KafkaSink(kafka_settings, settings) as sink,
        Supervisor(
            client, sink, FOLLOWING, ended_kept=1, on_ended=lambda _, o: outcomes.append(o)
        ) as supervisor,
    ):
        ended = [await ended_session(simulator) for _ in range(4)]
        for session_id in ended:
            supervisor.follow(session_id)
        await settled(
            lambda: [sink.checkpoint(s) for s in ended],
            done=lambda cps: all(c is not None and c.finished for c in cps),
        )
        await asyncio.sleep(RETENTION + 0.5)  # the retention itself is what is under test
        live = await simulator.create_session()  # its batches carry the tombstones
        supervisor.follow(live)
        await settled(lambda: [sink.checkpoint(s) for s in ended], done=lambda c: c == [None] * 4)
        for session_id in ended:  # a late webhook, a repeated POST /follow
            supervisor.follow(session_id)
        # `ended` keeps one (the last to end: not followed again); the others are refused.
        await settled(lambda: len(outcomes), done=lambda n: n == 7)
        await settled(lambda: supervisor.followed, done=lambda f: f == {live})
        await sink.flush()
    on_topic = await load_checkpoints(kafka_settings, kafka_settings.checkpoints_topic, 2)
    expected = truth(simulator, [*ended, live])
    records = await read_topic(
        kafka_settings.bootstrap_servers,
        kafka_settings.events_topic,
        expected=sum(len(ids) for ids in expected.values()),
    )

    assert (["finished"] * 4 + ["fatal:ended_before_retention"] * 3, expected) == (
        outcomes,
        ids_by_session(records),
    )
    assert (set(), 4.0) == (set(ended) & set(on_topic), _forgotten() - forgotten_before)


async def test_an_ended_session_first_seen_within_the_retention_is_streamed(
    simulator: Simulator, client: ApiClient, kafka_settings: KafkaSettings
) -> None:
    """A session that ended before anyone followed it (the backfill case) is streamed whole:
    the retention check refuses only sessions created before the window."""
    settings = sink_settings(finished_retention_secs=RETENTION)
    async with (
        KafkaSink(kafka_settings, settings) as sink,
        Supervisor(client, sink, FOLLOWING) as supervisor,
    ):
        session_id = await ended_session(simulator)
        supervisor.follow(session_id)
        outcome = await settled(lambda: supervisor.ended.get(session_id), done=bool)
        await sink.flush()
    records = await read_topic(
        kafka_settings.bootstrap_servers,
        kafka_settings.events_topic,
        expected=len(truth(simulator, [session_id])[session_id]),
    )

    assert ("finished", truth(simulator, [session_id])) == (outcome, ids_by_session(records))
