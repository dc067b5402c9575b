"""Discovery pages sessions by creation time over all statuses, from a watermark."""

from __future__ import annotations

from typing import Any

from simulator import Simulator
from simulator.engine.lifecycle_events import terminate
from streamer.api import ApiClient
from streamer.config import load_settings
from streamer.discovery import DiscoverySettings, InMemoryWatermarks
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.service import Service
from streamer.sink import InMemorySink
from streamer.supervisor import Supervisor
from tests.integration.streamer.conftest import FAST, sent, truth
from tests.support.kafka import unique_name
from tests.support.truth import read_topic, topic_by_session
from tests.support.waiting import settled

# One pass at start, then none unless a test asks for one: "between two passes" is exact.
ONE_PASS = DiscoverySettings(interval_secs=3600.0)


async def ended_session(simulator: Simulator) -> str:
    """A session that gets one event and terminates at once (an immediate failure)."""
    session_id = simulator.core.create_session(autopilot=False)
    simulator.inject(session_id, {"type": "session.error", "error": {"type": "boom"}})
    await terminate(simulator.session(session_id), simulator.core.registry)
    return session_id


async def test_a_session_created_and_ended_between_two_passes_is_followed(
    simulator: Simulator, client: ApiClient
) -> None:
    """A session that starts and terminates between passes is found by the next one; its
    follower reads its whole history and finishes."""
    sink = InMemorySink()
    async with Supervisor(client, sink, FAST, discovery=ONE_PASS) as supervisor:
        await settled(lambda: supervisor.ready, done=bool, stable_secs=0.0)
        session_id = await ended_session(simulator)
        started = await supervisor.discover()
        ended = await settled(lambda: supervisor.ended.get(session_id), done=bool)

    assert (1, "finished", truth(simulator, [session_id])) == (
        started,
        ended,
        sent(sink),
    )


async def test_first_start_backfills_ended_sessions_within_the_window(
    simulator: Simulator, client: ApiClient
) -> None:
    """With the default backfill, a session that ended before the first start is followed."""
    session_id = await ended_session(simulator)
    sink = InMemorySink()
    async with Supervisor(client, sink, FAST, discovery=ONE_PASS):
        published = await settled(
            lambda: sent(sink),
            done=lambda p: p == truth(simulator, [session_id]),
        )

    assert truth(simulator, [session_id]) == published


async def test_no_backfill_follows_only_live_and_new_sessions(
    simulator: Simulator, client: ApiClient
) -> None:
    """Backfill 0: an ended session from before the start is left alone; a live one from before
    and an ended one from after are followed."""
    old_ended = await ended_session(simulator)
    old_live = await simulator.create_session()
    settings = DiscoverySettings(interval_secs=3600.0, backfill_secs=0.0)
    async with Supervisor(client, InMemorySink(), FAST, discovery=settings) as supervisor:
        await settled(lambda: supervisor.ready, done=bool, stable_secs=0.0)
        new_ended = await ended_session(simulator)
        await supervisor.discover()
        seen = supervisor.followed | set(supervisor.ended)

    assert (frozenset({old_live, new_ended}), False) == (
        seen & {old_live, new_ended},
        old_ended in seen,
    )


async def test_the_boundary_is_acted_on_once_and_the_watermark_moves(
    simulator: Simulator, client: ApiClient
) -> None:
    """A second pass re-reads the watermark's instant but starts nothing; the watermark saved is
    the newest session's creation time."""
    session_ids = [await ended_session(simulator) for _ in range(3)]
    store = InMemoryWatermarks()
    sink = InMemorySink()
    async with Supervisor(client, sink, FAST, discovery=ONE_PASS, watermarks=store) as sup:
        await settled(lambda: sup.ready, done=bool, stable_secs=0.0)
        await settled(lambda: len(sup.ended), done=lambda n: n == 3)
        again = await sup.discover()
    newest = simulator.session(session_ids[-1]).created_at
    assert store.last is not None

    assert (0, newest, (session_ids[-1],)) == (again, store.last.created_at, store.last.ids)


def _kafka(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        events_topic=unique_name("events"),
        checkpoints_topic=unique_name("checkpoints"),
        dead_letter_topic=unique_name("dlq"),
        discovery_topic=unique_name("discovery"),
    )


def _service(simulator: Simulator, kafka: KafkaSettings, tx: str) -> Service:
    fast: dict[str, Any] = {
        "stream_read_timeout_secs": 3.0,
        "reconnect_initial_secs": 0.05,
        "reconnect_max_secs": 0.5,
        "discovery_interval_secs": 0.3,
        "http_port": 0,
        "api_key": "sk-test",
    }
    settings = load_settings(base_url=simulator.base_url, **fast)
    sink = SinkSettings(transactional_id=tx, api_base_url=simulator.base_url)
    return Service(settings, kafka=kafka, sink_settings=sink)


def _watermark_ids(service: Service) -> tuple[str, ...]:
    poller = service.supervisor._poller
    mark = poller.discovery.watermark if poller is not None and poller.discovery else None
    return mark.ids if mark is not None else ()


async def _on_topic(kafka: KafkaSettings, truth: dict[str, list[str]]) -> dict[str, list[str]]:
    expected = sum(len(ids) for ids in truth.values())
    records = await read_topic(kafka.bootstrap_servers, kafka.events_topic, expected=expected)
    return topic_by_session(records)


async def test_ended_sessions_reach_kafka_and_a_restart_continues_from_the_watermark(
    simulator: Simulator, kafka_bootstrap: str
) -> None:
    """Sessions that end between passes reach the events topic. A restart onto fresh events
    and checkpoints topics, with the same discovery topic, continues from the saved watermark: it
    follows only the session that ended while it was down (a new backfill would follow all)."""
    kafka = _kafka(kafka_bootstrap)
    first = [await ended_session(simulator)]
    async with _service(simulator, kafka, unique_name("tx")) as service:
        first.append(await ended_session(simulator))
        await settled(lambda: _watermark_ids(service), done=lambda ids: ids == (first[-1],))
    first_topic = await _on_topic(kafka, truth(simulator, first))
    down = await ended_session(simulator)
    fresh = kafka.model_copy(
        update={"events_topic": unique_name("events"), "checkpoints_topic": unique_name("cp")}
    )
    async with _service(simulator, fresh, unique_name("tx")) as service:
        await settled(lambda: _watermark_ids(service), done=lambda ids: ids == (down,))
    second_topic = await _on_topic(fresh, truth(simulator, [down]))

    assert (truth(simulator, first), truth(simulator, [down])) == (
        first_topic,
        second_topic,
    )
