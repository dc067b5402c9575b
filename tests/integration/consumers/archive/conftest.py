"""Fixtures of the archive consumer's tests: the s3proxy server, unique topics, a runner."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from deltalake import DeltaTable

from consumers.archive.config import ArchiveSettings
from consumers.archive.consumer import ArchiveConsumer
from consumers.runner import Runner
from consumers.settings import RunnerSettings
from streamer.kafka.config import KafkaSettings
from tests.support.kafka import unique_name
from tests.support.s3 import s3
from tests.support.waiting import until

__all__ = ["s3"]

PARTITIONS = 4
RUNNER = RunnerSettings(max_attempts=3, retry_initial_ms=10, retry_max_ms=50)


@pytest.fixture
async def kafka(kafka_bootstrap: str) -> KafkaSettings:
    """Settings with a fresh 4-partition events topic and a fresh dead-letter topic."""
    settings = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        events_topic=unique_name("events"),
        dead_letter_topic=unique_name("dlq"),
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.events_topic, PARTITIONS, 1)])
    finally:
        await admin.close()
    return settings


def archive_settings(uri: str, options: dict[str, str] | None = None, **kw: Any) -> ArchiveSettings:
    """Quick flushing settings for tests."""
    defaults: dict[str, Any] = {"flush_max_age_secs": 0.5, "flush_min_interval_secs": 0.2,
                                "retry_initial_secs": 0.1, "retry_max_secs": 1.0,
                                "drain_timeout_secs": 5.0}  # fmt: skip
    return ArchiveSettings(uri=uri, storage_options=options or {}, **{**defaults, **kw})


@contextlib.asynccontextmanager
async def running(
    settings: ArchiveSettings, kafka: KafkaSettings, group_id: str
) -> AsyncIterator[ArchiveConsumer]:
    """An archive consumer run by the real runner until the block ends (then stopped)."""
    consumer = ArchiveConsumer(settings)
    runner = Runner(consumer, kafka, RUNNER, group_id=group_id)
    async with runner:
        task = asyncio.create_task(runner.run())
        try:
            yield consumer
        finally:
            runner.request_stop()
            await task


def rows(uri: str, options: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every row of the table (empty when there is no table yet)."""
    try:
        table = DeltaTable(uri, storage_options=options)
    except Exception:  # noqa: BLE001 - not created yet
        return []
    return list(table.to_pyarrow_table().to_pylist())


def count(uri: str, options: dict[str, str] | None = None) -> int:
    """How many rows the table holds, from its log's file statistics (cheap to poll)."""
    try:
        return int(DeltaTable(uri, storage_options=options).count())
    except Exception:  # noqa: BLE001 - not created yet
        return 0


async def wait_for(condition: Callable[[], bool], timeout_s: float = 45.0) -> None:
    """`until` `condition` holds; it reads a table, so each try runs in a thread."""
    await until(lambda: asyncio.to_thread(condition), timeout_secs=timeout_s, interval_secs=0.2)
