"""The durable producer's partitioner: the same partitions as aiokafka's default."""

from __future__ import annotations

import hashlib

from aiokafka.partitioner import DefaultPartitioner

from consumers.producer import partition_by_key


def test_keyed_records_go_where_the_default_partitioner_puts_them() -> None:
    default = DefaultPartitioner()
    keys = [hashlib.sha256(str(n).encode()).digest()[: n % 32 + 1] for n in range(500)]
    keys += [b"sesn_01", b"toolu_01", b""]
    for count in (1, 3, 8, 12):
        partitions = list(range(count))
        for key in keys:
            expected = default(key, partitions, partitions)
            assert partition_by_key(key, partitions, partitions) == expected
            assert partition_by_key(key, partitions, partitions) == expected  # remembered: the same


def test_unkeyed_records_go_to_an_available_partition() -> None:
    assert partition_by_key(None, [0, 1, 2], [2]) == 2
