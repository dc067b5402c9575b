"""Faults while archiving: the object store down mid-run, a table changed by someone else, a
10 MB event. Real Kafka, real s3proxy (stopped and restarted), real Delta tables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from deltalake import DeltaTable, write_deltalake

from consumers.archive import metrics
from consumers.archive.schema import ADDED_COLUMNS, PARTITION_COLUMNS, SCHEMA
from streamer.kafka.config import KafkaSettings
from tests.integration.consumers.archive.conftest import (
    PARTITIONS,
    archive_settings,
    count,
    rows,
    running,
    wait_for,
)
from tests.integration.consumers.archive.test_archive import counts, sessions_events
from tests.support.events import event, produce
from tests.support.kafka import unique_name
from tests.support.s3 import LocalS3

pytestmark = pytest.mark.kafka


def problems(kind: str) -> float:
    """The archive's problem counter for one kind."""
    return float(metrics.PROBLEMS.labels(kind)._value.get())


async def test_object_store_down_mid_run_loses_and_doubles_nothing(
    tmp_path: Path, kafka: KafkaSettings
) -> None:
    """s3proxy stops while events arrive: writes fail and are retried, handling stops at the
    buffer limit (backpressure, nothing dropped); once the store is back, every event once."""
    server = LocalS3(tmp_path / "s3proxy")
    server.start()
    try:
        uri, options = f"s3://{server.bucket()}/archive", server.storage_options()
        retries = {"timeout": "2s", "max_retries": "1", "retry_timeout": "2s"}
        settings = archive_settings(uri, {**options, **retries}, max_buffer_bytes=3000)
        first, second = sessions_events(8, 10), sessions_events(8, 10)
        before, pressed = problems("store_error"), problems("backpressure")
        async with running(settings, kafka, unique_name("g")) as consumer:
            await produce(kafka.bootstrap_servers, kafka.events_topic, first)
            await wait_for(lambda: count(uri, options) >= len(first))
            server.stop()
            await produce(kafka.bootstrap_servers, kafka.events_topic, second)
            async with asyncio.timeout(30):
                while problems("store_error") < before + 2:  # noqa: ASYNC110 - a counter
                    await asyncio.sleep(0.2)
            assert consumer.writer is not None
            buffered = consumer.writer.raw_bytes
            server.start()
            await wait_for(lambda: count(uri, options) >= len(first) + len(second))
        assert {str(e["id"]): 1 for _, e in first + second} == dict(counts(rows(uri, options)))
        # Partitions are handled concurrently: each may add one row past the limit, then waits.
        bound = 3000 + PARTITIONS * max(len(orjson.dumps(e)) for _, e in second)
        assert (True, True) == (problems("backpressure") > pressed, buffered <= bound)
    finally:
        server.stop()


async def test_compaction_meanwhile_changes_nothing(tmp_path: Path, kafka: KafkaSettings) -> None:
    """Someone compacts (and checkpoints) the table between writes: every event still once."""
    uri = str(tmp_path / "archive")
    waves = [sessions_events(6, 5) for _ in range(4)]
    async with running(archive_settings(uri), kafka, unique_name("g")):
        for number, wave in enumerate(waves, 1):
            await produce(kafka.bootstrap_servers, kafka.events_topic, wave)
            await wait_for(lambda n=number: count(uri) >= n * 30)  # type: ignore[misc]
            table = DeltaTable(uri)
            await asyncio.to_thread(table.optimize.compact)
            await asyncio.to_thread(table.create_checkpoint)
    every = [e for wave in waves for _, e in wave]
    assert {str(e["id"]): 1 for e in every} == dict(counts(rows(uri)))


async def test_a_table_changed_incompatibly_holds_rows_until_it_is_restored(
    tmp_path: Path, kafka: KafkaSettings
) -> None:
    """Someone overwrites the table with another schema: writes fail as table_changed and the
    rows wait (nothing dropped); once the table is restored they are written, once each."""
    uri = str(tmp_path / "archive")
    first, second = sessions_events(4, 5), sessions_events(4, 5)
    before = problems("table_changed")
    async with running(archive_settings(uri), kafka, unique_name("g")):
        await produce(kafka.bootstrap_servers, kafka.events_topic, first)
        await wait_for(lambda: count(uri) >= len(first))
        good_version = DeltaTable(uri).version()
        other = pa.table({"event_id": [1], "date": [date(2026, 1, 1)]})
        write_deltalake(uri, other, mode="overwrite", schema_mode="overwrite", partition_by="date")
        await produce(kafka.bootstrap_servers, kafka.events_topic, second)
        async with asyncio.timeout(30):
            while problems("table_changed") < before + 1:  # noqa: ASYNC110 - a counter
                await asyncio.sleep(0.2)
        DeltaTable(uri).restore(good_version)
        await wait_for(lambda: count(uri) >= len(first) + len(second))
    assert {str(e["id"]): 1 for _, e in first + second} == dict(counts(rows(uri)))


async def test_a_table_from_before_a_column_was_added_gains_it(
    tmp_path: Path, kafka: KafkaSettings
) -> None:
    """A table an older writer created, without the columns added since (`ADDED_COLUMNS`), is
    appended to: the new columns appear, null in the older rows, and nothing is refused."""
    uri = str(tmp_path / "archive")
    older = pa.schema([f for f in SCHEMA if f.name not in ADDED_COLUMNS])
    DeltaTable.create(uri, older, partition_by=PARTITION_COLUMNS)
    events = sessions_events(3, 4)
    async with running(archive_settings(uri), kafka, unique_name("g")):
        await produce(kafka.bootstrap_servers, kafka.events_topic, events)
        await wait_for(lambda: count(uri) >= len(events))
    assert ADDED_COLUMNS <= set(DeltaTable(uri).schema().to_arrow().names)  # type: ignore[union-attr]
    assert {str(e["id"]): 1 for _, e in events} == dict(counts(rows(uri)))


async def test_a_ten_megabyte_event_is_one_row(tmp_path: Path, kafka: KafkaSettings) -> None:
    """A 10 MB event (on a topic that allows it) is archived whole, byte for byte."""
    topic = unique_name("big-events")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        config = {"max.message.bytes": str(16 * 1024 * 1024)}
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=config)])
    finally:
        await admin.close()
    big = orjson.dumps(event("agent.tool_result", content=[{"type": "text", "text": "x" * 10**7}]))
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers,
                                max_request_size=16 * 1024 * 1024)  # fmt: skip
    await producer.start()
    try:
        await producer.send_and_wait(topic, big, key=b"sesn_big")
        await producer.send_and_wait(topic, orjson.dumps(event("agent.message")), key=b"sesn_big")
    finally:
        await producer.stop()
    uri = str(tmp_path / "archive")
    settings = kafka.model_copy(update={"events_topic": topic})
    async with running(archive_settings(uri), settings, unique_name("g")):
        await wait_for(lambda: count(uri) >= 2)
    table_rows = rows(uri)
    assert Counter({1: 2}) == Counter(counts(table_rows).values())
    assert big.decode() == next(r["raw"] for r in table_rows if r["kafka_offset"] == 0)


@contextlib.contextmanager
def small_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (needs root: CI and the dev container run as root)."""
    path.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("a full disk is made by mounting a small tmpfs, which needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk` with one file; returns it (delete it to free the disk)."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as out:  # until ENOSPC
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


async def test_a_full_disk_holds_rows_until_there_is_room_again(
    tmp_path: Path, kafka: KafkaSettings
) -> None:
    """The table's disk fills up: writes fail (store_error), rows wait in the buffer, nothing is
    dropped; once space is freed every event is in the table, once."""
    with small_disk(tmp_path / "disk") as disk:
        uri = str(disk / "archive")
        first, second = sessions_events(4, 5), sessions_events(4, 5)
        before = problems("store_error")
        async with running(archive_settings(uri), kafka, unique_name("g")):
            await produce(kafka.bootstrap_servers, kafka.events_topic, first)
            await wait_for(lambda: count(uri) >= len(first))
            filler = fill(disk)
            await produce(kafka.bootstrap_servers, kafka.events_topic, second)
            async with asyncio.timeout(60):
                while problems("store_error") < before + 1:  # noqa: ASYNC110 - a counter
                    await asyncio.sleep(0.2)
            held = count(uri)
            filler.unlink()
            await wait_for(lambda: count(uri) >= len(first) + len(second))
        found = dict(counts(rows(uri)))

    assert (len(first), {str(e["id"]): 1 for _, e in first + second}) == (held, found)
