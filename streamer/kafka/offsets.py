"""Offsets a reader stops at; no metrics, so that consumers can import it too."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamer.kafka.config import KafkaSettings


async def log_end_offsets(
    kafka: KafkaSettings, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """The partitions' log-end offsets (high watermarks), open transactions' records included.

    Where a `read_committed` reader must stop to have seen every committed record: its own
    `end_offsets` is the *last stable offset*, which stays before the first record of any
    transaction still open, so on a partition several transactional producers share (a fleet's
    lanes on one checkpoints partition) committed records can lie beyond it, behind another
    producer's open transaction. A reader that reads up to this offset waits for that
    transaction to end instead."""
    consumer = AIOKafkaConsumer(
        **kafka.client_kwargs(), group_id=None, enable_auto_commit=False
    )  # read_uncommitted: its end offsets are the high watermarks
    try:
        await consumer.start()
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()
