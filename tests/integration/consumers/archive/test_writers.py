"""Several writers of one table (replicas, a zombie after a rebalance): each offset once.

These drive `Writer` and `ArchiveTable` directly on real tables (a directory, and s3proxy with
conditional puts) to set up the interleavings that a live run produces only by chance.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest
from deltalake import DeltaTable

from consumers.archive.errors import ArchiveError
from consumers.archive.schema import records_to_table
from consumers.archive.store import ArchiveTable
from consumers.archive.writer import Writer
from consumers.base import EventRecord
from tests.integration.consumers.archive.conftest import rows
from tests.support.s3 import LocalS3

TOPIC = "agents.session-events"


def records(partition: int, offsets: range) -> list[EventRecord]:
    """Records of one partition at these offsets (event id = partition/offset)."""
    return [
        EventRecord.parse(
            topic=TOPIC, partition=partition, offset=o, key=f"sesn_{o % 3}".encode(),
            value=orjson.dumps({"id": f"sevt_{partition}_{o}", "type": "agent.message",
                                "processed_at": "2026-04-07T04:27:40.101Z"}),
            headers={}, timestamp_ms=1_775_536_060_000,
        )
        for o in offsets
    ]  # fmt: skip


def fed(table: ArchiveTable, partition: int, offsets: range) -> Writer:
    """A writer holding these records, as the runner would have handed them."""
    writer = Writer(table, TOPIC)
    for record in records(partition, offsets):
        writer.append(record)
    writer.note_committable({partition: offsets.stop})
    return writer


@pytest.fixture(params=["local", "s3"])
def table_uri(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A table location: a directory, or a prefix in a fresh s3proxy bucket."""
    if request.param == "local":
        return str(tmp_path / "archive"), {}
    s3: LocalS3 = request.getfixturevalue("s3")
    return f"s3://{s3.bucket()}/archive", s3.storage_options()


def offsets_in(uri: str, options: dict[str, str]) -> Counter[tuple[int, int]]:
    """How often each (partition, offset) is in the table."""
    return Counter((r["kafka_partition"], r["kafka_offset"]) for r in rows(uri, options))


async def test_a_zombie_behind_the_new_owner_writes_nothing(
    table_uri: tuple[str, dict[str, str]],
) -> None:
    """The old owner writes after the new one got further: its rows are all covered."""
    uri, options = table_uri
    new_owner = fed(ArchiveTable(uri, options), 0, range(100))
    zombie = fed(ArchiveTable(uri, options), 0, range(60))
    assert (100, 0) == (await new_owner.write(), await zombie.write())
    assert Counter({(0, o): 1 for o in range(100)}) == offsets_in(uri, options)


async def test_a_writer_behind_a_zombie_writes_only_the_rest(
    table_uri: tuple[str, dict[str, str]],
) -> None:
    """The zombie got its rows in first: the new owner drops those and writes the rest."""
    uri, options = table_uri
    zombie = fed(ArchiveTable(uri, options), 0, range(60))
    new_owner = fed(ArchiveTable(uri, options), 0, range(100))
    assert (60, 40) == (await zombie.write(), await new_owner.write())
    assert Counter({(0, o): 1 for o in range(100)}) == offsets_in(uri, options)


async def test_a_commit_racing_another_on_its_partition_is_refused(
    table_uri: tuple[str, dict[str, str]],
) -> None:
    """Two writers read the same version; the second commit of partition 0 fails the check."""
    uri, options = table_uri
    first, second = ArchiveTable(uri, options), ArchiveTable(uri, options)
    assert ({}, {}) == (first.versions(TOPIC, [0]), second.versions(TOPIC, [0]))
    first.append(records_to_table(records(0, range(10))), TOPIC, {0: 10})
    with pytest.raises(ArchiveError) as refused:
        second.append(records_to_table(records(0, range(10))), TOPIC, {0: 10})
    assert "conflict" == refused.value.kind
    assert Counter({(0, o): 1 for o in range(10)}) == offsets_in(uri, options)


async def test_writers_of_different_partitions_both_commit(
    table_uri: tuple[str, dict[str, str]],
) -> None:
    """Replicas owning different partitions do not conflict: both appends land."""
    uri, options = table_uri
    first, second = ArchiveTable(uri, options), ArchiveTable(uri, options)
    first.versions(TOPIC, [0])
    second.versions(TOPIC, [1])
    first.append(records_to_table(records(0, range(10))), TOPIC, {0: 10})
    second.append(records_to_table(records(1, range(5))), TOPIC, {1: 5})
    assert {0: 10, 1: 5} == ArchiveTable(uri, options).versions(TOPIC, [0, 1])


async def test_a_redelivered_record_is_buffered_once() -> None:
    """The runner handing the same offsets again (a fetch racing a seek) adds no rows."""
    writer = Writer(ArchiveTable("/nonexistent", {}), TOPIC)
    for record in records(0, range(5)) + records(0, range(3)):
        writer.append(record)
    assert 5 == writer.buffers[0].rows


async def test_offsets_survive_a_checkpoint_and_log_cleanup(tmp_path: Path) -> None:
    """The txn versions live on in Delta checkpoints: a fresh reader still finds them."""
    uri = str(tmp_path / "archive")
    await fed(ArchiveTable(uri, {}), 0, range(10)).write()
    await fed(ArchiveTable(uri, {}), 1, range(7)).write()
    table = DeltaTable(uri)
    table.create_checkpoint()
    table.cleanup_metadata()
    assert {0: 10, 1: 7} == ArchiveTable(uri, {}).versions(TOPIC, [0, 1, 2])
