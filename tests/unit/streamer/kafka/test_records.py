"""The record format of docs/RECORDS.md, built without a broker."""

from __future__ import annotations

import orjson
import pytest

from streamer.events import Checkpoint, SessionEvent
from streamer.kafka.records import RecordFormat, decode_checkpoint, encode_checkpoint

RAW = b'{"type":"agent.message","id":"sevt_1","processed_at":"2026-04-07T04:27:43.197Z"}'


def _format() -> RecordFormat:
    return RecordFormat(
        source="https://api.anthropic.com/v1/sessions",
        events_topic="ev",
        checkpoints_topic="cp",
        dead_letter_topic="dl",
    )


def _event(raw: bytes = RAW, **extra: str) -> SessionEvent:
    return SessionEvent(
        "sesn_1", "sevt_1", "agent.message", "2026-04-07T04:27:43.197Z", raw, **extra
    )


def test_event_record_carries_cloudevents_headers() -> None:
    """An event record has key = session id, the raw value and the CloudEvents headers."""
    record = _format().event_record(_event(thread_id="sthr_1", agent_id="agent_1"))

    assert ("ev", b"sesn_1", RAW) == (record.topic, record.key, record.value)
    assert {
        "ce_specversion": b"1.0",
        "ce_source": b"https://api.anthropic.com/v1/sessions",
        "content-type": b"application/json",
        "ce_id": b"sevt_1",
        "ce_type": b"agent.message",
        "ce_subject": b"sesn_1",
        "ce_time": b"2026-04-07T04:27:43.197Z",
        "ce_threadid": b"sthr_1",
        "ce_agentid": b"agent_1",
    } == dict(record.headers)


def test_event_record_omits_absent_routing_headers() -> None:
    """Without a thread or agent id the record has no `ce_threadid` / `ce_agentid` header."""
    names = [name for name, _ in _format().event_record(_event()).headers]

    assert [] == [n for n in names if n in ("ce_threadid", "ce_agentid")]


def test_event_record_names_the_agent_model() -> None:
    """The session's agent model travels as the `ce_agentmodel` extension (for the metrics)."""
    record = _format().event_record(_event(agent_model="claude-sonnet-4-6"))

    assert b"claude-sonnet-4-6" == dict(record.headers)["ce_agentmodel"]


def test_dead_letter_keeps_the_event_when_it_fits() -> None:
    """A dead letter that fits its topic carries the event itself and the reason headers."""
    record = _format().dead_letter(_event(), "message_too_large", 10_000)
    headers = dict(record.headers)

    assert ("dl", RAW) == (record.topic, record.value)
    assert (b"message_too_large", b"ev", b"false", str(len(RAW)).encode()) == (
        headers["dlq_reason"],
        headers["dlq_topic"],
        headers["dlq_truncated"],
        headers["dlq_size_bytes"],
    )


def test_dead_letter_too_large_even_for_its_topic_is_a_summary() -> None:
    """An event too large for the dead-letter topic becomes a JSON summary with its identity."""
    raw = b'{"type":"agent.message","text":"' + b"x" * 5000 + b'"}'
    record = _format().dead_letter(_event(raw), "message_too_large", 2048)
    summary = orjson.loads(record.value)

    assert b"true" == dict(record.headers)["dlq_truncated"]
    assert ("message_too_large", "sesn_1", "sevt_1", "agent.message", len(raw)) == (
        summary["reason"],
        summary["session_id"],
        summary["event_id"],
        summary["type"],
        summary["size_bytes"],
    )
    assert record.size() <= 2048


def test_checkpoint_round_trips_through_json() -> None:
    """A checkpoint encodes to JSON and decodes back to the same value."""
    checkpoint = Checkpoint("sesn_1", "2026-04-07T04:27:43.197Z", ("sevt_1", "sevt_2"), True)

    assert checkpoint == decode_checkpoint(encode_checkpoint(checkpoint))


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b"[]",
        b'{"processed_at": "t", "boundary_ids": []}',
        b'{"session_id": "s", "processed_at": "t", "boundary_ids": "x"}',
        b'{"session_id": "s", "processed_at": "t", "boundary_ids": [], "finished": "no"}',
    ],
)
def test_malformed_checkpoint_is_rejected(value: bytes) -> None:
    """Malformed checkpoint values raise ValueError or TypeError, never anything else."""
    with pytest.raises((ValueError, TypeError)):
        decode_checkpoint(value)


@pytest.mark.parametrize(
    "extra",
    [{}, {"thread_id": "sthr_1"}, {"agent_id": "agent_1"}, {"thread_id": "t", "agent_id": "a"},
     {"agent_id": "a", "agent_model": "claude-sonnet-4-6"}],
)  # fmt: skip
def test_event_size_equals_the_built_record_size(extra: dict[str, str]) -> None:
    """The size computed without building the record equals the built record's size."""
    record_format = _format()
    event = _event(**extra)

    assert record_format.event_record(event).size() == record_format.event_size(event)
