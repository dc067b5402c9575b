"""The archive consumer with the real runner, Kafka and Delta tables on disk and on s3proxy."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from consumers.archive.store import app_id
from streamer.kafka.config import KafkaSettings
from tests.integration.consumers.archive.conftest import (
    archive_settings,
    count,
    rows,
    running,
    wait_for,
)
from tests.support.events import event, produce
from tests.support.kafka import unique_name
from tests.support.s3 import LocalS3

pytestmark = pytest.mark.kafka


def sessions_events(sessions: int, per_session: int) -> list[tuple[str, dict[str, object]]]:
    """Events of several sessions, interleaved, each session's in order."""
    return [(f"sesn_{s}", event("agent.message", seq=i))
            for i in range(per_session) for s in range(sessions)]  # fmt: skip


def counts(table_rows: list[dict[str, object]]) -> Counter[object]:
    """How often each event id is in the table."""
    return Counter(row["event_id"] for row in table_rows)


async def test_every_event_once_in_session_order(tmp_path: Path, kafka: KafkaSettings) -> None:
    """Events of many sessions land once each, each session's rows in offset (= session) order."""
    uri = str(tmp_path / "archive")
    records = sessions_events(12, 25)
    await produce(kafka.bootstrap_servers, kafka.events_topic, records)
    async with running(archive_settings(uri), kafka, unique_name("g")):
        await wait_for(lambda: count(uri) >= len(records))
    table_rows = rows(uri)
    assert {str(e["id"]): 1 for _, e in records} == dict(counts(table_rows))
    for session in {s for s, _ in records}:
        mine = [r for r in table_rows if r["session_id"] == session]
        sent = [e["id"] for s, e in records if s == session]
        assert sent == [r["event_id"] for r in sorted(mine, key=lambda r: r["kafka_offset"])]


async def test_not_one_file_per_record(tmp_path: Path, kafka: KafkaSettings) -> None:
    """A steady trickle is written in a few commits, not one per record or per batch."""
    uri = str(tmp_path / "archive")
    settings = archive_settings(uri, flush_max_age_secs=3.0, flush_min_interval_secs=3.0)
    async with running(settings, kafka, unique_name("g")):
        for i in range(20):
            await produce(kafka.bootstrap_servers, kafka.events_topic,
                          [(f"sesn_{i % 5}", event("agent.message"))])  # fmt: skip
        await wait_for(lambda: count(uri) >= 20)
    files = DeltaTable(uri).file_uris()
    assert 1 <= len(files) <= 4


async def test_a_new_group_resumes_where_the_table_ends(
    tmp_path: Path, kafka: KafkaSettings
) -> None:
    """The table's txn versions, not the group's offsets, decide where reading starts."""
    uri = str(tmp_path / "archive")
    first, second = sessions_events(4, 10), sessions_events(4, 10)
    await produce(kafka.bootstrap_servers, kafka.events_topic, first)
    async with running(archive_settings(uri), kafka, unique_name("g")):
        await wait_for(lambda: count(uri) >= len(first))
    await produce(kafka.bootstrap_servers, kafka.events_topic, second)
    async with running(archive_settings(uri), kafka, unique_name("other-group")):
        await wait_for(lambda: count(uri) >= len(first) + len(second))
    table = DeltaTable(uri)
    assert {str(e["id"]): 1 for _, e in first + second} == dict(counts(rows(uri)))
    ends = [table.transaction_version(app_id(kafka.events_topic, p)) for p in range(4)]
    assert len(first + second) == sum(v or 0 for v in ends)


async def test_records_that_are_not_events_are_dead_lettered(
    tmp_path: Path, kafka: KafkaSettings
) -> None:
    """A non-JSON value and invalid UTF-8 go to the dead-letter topic; the events around stay."""
    uri = str(tmp_path / "archive")
    good = [("sesn_1", event("agent.message")), ("sesn_1", event("agent.message"))]
    bad = [("sesn_1", b"not json"), ("sesn_1", b'{"id":"sevt_x","type":"a.b","t":"\xff\xfe"}')]
    await produce(kafka.bootstrap_servers, kafka.events_topic, [good[0], *bad, good[1]], 0)
    async with running(archive_settings(uri), kafka, unique_name("g")):
        await wait_for(lambda: count(uri) >= 2)
    table = DeltaTable(uri)
    assert {str(e["id"]): 1 for _, e in good} == dict(counts(rows(uri)))
    assert 4 == table.transaction_version(app_id(kafka.events_topic, 0))


async def test_on_s3_with_two_replicas(s3: LocalS3, kafka: KafkaSettings) -> None:
    """Two replicas of one group write one table on s3proxy; one leaves midway; all once."""
    uri = f"s3://{s3.bucket()}/archive"
    options = s3.storage_options()
    first, second = sessions_events(16, 10), sessions_events(16, 10)
    group = unique_name("g")
    await produce(kafka.bootstrap_servers, kafka.events_topic, first)
    async with running(archive_settings(uri, options), kafka, group):
        async with running(archive_settings(uri, options), kafka, group):
            await wait_for(lambda: count(uri, options) >= len(first))
            await produce(kafka.bootstrap_servers, kafka.events_topic, second)
        await wait_for(lambda: count(uri, options) >= len(first) + len(second))
    assert {str(e["id"]): 1 for _, e in first + second} == dict(counts(rows(uri, options)))
