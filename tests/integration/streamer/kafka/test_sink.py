"""The Kafka sink against a real broker: record format, exactly once, checkpoints, previews."""

from __future__ import annotations

import orjson
import pytest

from streamer.events import Checkpoint, SessionEvent
from streamer.kafka.config import KafkaSettings
from tests.integration.streamer.kafka.conftest import (
    SinkFactory,
    ids_by_session,
    make_event,
    read_topic,
    sink_settings,
)

pytestmark = pytest.mark.kafka


async def test_event_record_has_documented_headers(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """A published event arrives keyed by session with its raw value and CloudEvents headers."""
    event = SessionEvent(
        "sesn_a",
        "sevt_1",
        "agent.tool_use",
        "2026-04-07T04:27:40.101Z",
        b'{"type":"agent.tool_use","id":"sevt_1","unknown_field":[1,2]}',
        thread_id="sthr_1",
        agent_id="agent_9",
    )
    async with make_sink() as sink:
        await sink.publish(event)
        await sink.flush()

    [record] = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.events_topic, expected=1
    )

    assert ("sesn_a", event.raw) == (record.key, record.value)
    assert {
        "ce_specversion": b"1.0",
        "ce_id": b"sevt_1",
        "ce_type": b"agent.tool_use",
        "ce_source": b"http://127.0.0.1:8765/v1/sessions",
        "ce_subject": b"sesn_a",
        "ce_time": b"2026-04-07T04:27:40.101Z",
        "content-type": b"application/json",
        "ce_threadid": b"sthr_1",
        "ce_agentid": b"agent_9",
    } == record.headers


async def test_read_committed_reader_sees_each_event_once_in_order(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """Many sessions' events arrive exactly once each, in per-session order."""
    sessions = [f"sesn_{n}" for n in range(20)]
    expected = {s: [make_event(s, n).event_id for n in range(50)] for s in sessions}
    async with make_sink(sink_settings(commit_interval_ms=20, max_batch_events=200)) as sink:
        for n in range(50):
            for s in sessions:
                await sink.publish(make_event(s, n))
        await sink.flush()

    records = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.events_topic, expected=1000
    )

    assert expected == ids_by_session(records)


async def test_checkpoints_survive_a_restart(make_sink: SinkFactory) -> None:
    """A restarted sink (same topics and transactional id) serves the committed checkpoints."""
    settings = sink_settings()
    async with make_sink(settings) as sink:
        for n in range(3):
            await sink.publish(make_event("sesn_a", n))
        await sink.publish(make_event("sesn_b", 7))
        await sink.finish("sesn_b")
        await sink.flush()
        before = await sink.checkpoints()
    async with make_sink(settings) as restarted:
        after = await restarted.checkpoints()

    last_a, last_b = make_event("sesn_a", 2), make_event("sesn_b", 7)
    assert (
        {
            "sesn_a": Checkpoint("sesn_a", last_a.processed_at, (last_a.event_id,)),
            "sesn_b": Checkpoint("sesn_b", last_b.processed_at, (last_b.event_id,), finished=True),
        }
        == after
        == before
    )


async def test_checkpoint_record_is_compacted_json(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """The checkpoints topic holds JSON keyed by session id, as docs/RECORDS.md says."""
    async with make_sink() as sink:
        await sink.publish(make_event("sesn_a", 1))
        await sink.flush()

    [record] = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.checkpoints_topic, expected=1
    )

    event = make_event("sesn_a", 1)
    assert (
        "sesn_a",
        {
            "version": 1,
            "session_id": "sesn_a",
            "processed_at": event.processed_at,
            "boundary_ids": [event.event_id],
            "finished": False,
        },
    ) == (record.key, orjson.loads(record.value))


async def test_queued_echo_is_not_published(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """An event without processed_at (a queued echo) never reaches the events topic."""
    queued = SessionEvent("sesn_a", "sevt_q", "user.message", "", b'{"processed_at":null}')
    async with make_sink() as sink:
        await sink.publish(queued)
        await sink.publish(make_event("sesn_a", 1))
        await sink.flush()

    records = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.events_topic, expected=1
    )

    assert {"sesn_a": [make_event("sesn_a", 1).event_id]} == ids_by_session(records)


async def test_at_least_once_mode_publishes_without_transactions(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """In at-least-once mode events and checkpoints arrive through the idempotent producer."""
    async with make_sink(sink_settings(mode="at_least_once")) as sink:
        for n in range(10):
            await sink.publish(make_event("sesn_a", n))
        await sink.flush()
        checkpoint = (await sink.checkpoints())["sesn_a"]

    records = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.events_topic, expected=10
    )

    assert [make_event("sesn_a", n).event_id for n in range(10)] == ids_by_session(records)[
        "sesn_a"
    ]
    assert make_event("sesn_a", 9).event_id == checkpoint.boundary_ids[0]


async def test_previews_go_to_the_deltas_topic_when_enabled(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """With deltas enabled, `publish_preview` writes the preview keyed by session id."""
    preview = b'{"type":"event_delta","event_id":"sevt_1","delta":{}}'
    async with make_sink(sink_settings(deltas_enabled=True)) as sink:
        await sink.publish_preview("sesn_a", preview)

    [record] = await read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.deltas_topic, expected=1
    )

    assert ("sesn_a", preview) == (record.key, record.value)


async def test_an_event_someone_waits_on_commits_without_waiting_for_the_interval(
    make_sink: SinkFactory, kafka_settings: KafkaSettings
) -> None:
    """A gated tool use starts its transaction at once, taking earlier events along."""
    settings = sink_settings(commit_interval_ms=600_000)  # the interval alone would take 10 min
    waited_on = SessionEvent(
        "sesn_a",
        "sevt_2",
        "agent.tool_use",
        "2026-04-07T04:27:40.102Z",
        b'{"type":"agent.tool_use","id":"sevt_2","evaluated_permission":"ask"}',
    )
    async with make_sink(settings) as sink:
        await sink.publish(make_event("sesn_a", 1))
        await sink.publish(waited_on)
        records = await read_topic(
            kafka_settings.bootstrap_servers,
            kafka_settings.events_topic,
            expected=2,
            timeout_s=120,
        )

    assert ["sevt_sesn_a_000001", "sevt_2"] == [r.headers["ce_id"].decode() for r in records]
