"""Upkeep while the archive consumer writes: compact and forget beside a live consumer."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from consumers.archive import upkeep
from streamer.kafka.config import KafkaSettings
from tests.integration.consumers.archive.conftest import archive_settings, rows, running, wait_for
from tests.support.events import event, produce
from tests.support.kafka import unique_name

pytestmark = pytest.mark.kafka


def wave(sessions: range, per_session: int) -> list[tuple[str, dict[str, object]]]:
    return [(f"sesn_{s}", event("agent.message", seq=i))
            for i in range(per_session) for s in sessions]  # fmt: skip


async def test_compact_and_forget_while_the_consumer_writes(
    tmp_path: Path, kafka: KafkaSettings
) -> None:
    """Compact and forget commit between the consumer's commits; afterwards every event is in
    the table once, except the forgotten session's events from before the forget."""
    uri = str(tmp_path / "archive")
    first, second = wave(range(4), 10), wave(range(4), 10)
    third = wave(range(1, 4), 20)  # written while compact and forget run; not of sesn_0
    async with running(archive_settings(uri), kafka, unique_name("g")):
        await produce(kafka.bootstrap_servers, kafka.events_topic, first)
        await wait_for(lambda: len(rows(uri)) >= 40)
        await produce(kafka.bootstrap_servers, kafka.events_topic, second)
        await wait_for(lambda: len(rows(uri)) >= 80)
        await produce(kafka.bootstrap_servers, kafka.events_topic, third)
        compacted = await asyncio.to_thread(upkeep.compact, uri)
        forgotten = await asyncio.to_thread(upkeep.forget, uri, "sesn_0")
        await wait_for(lambda: len(rows(uri)) >= 80 - 20 + 60)
    expected = {str(e["id"]): 1 for s, e in first + second + third if s != "sesn_0"}

    assert expected == dict(Counter(r["event_id"] for r in rows(uri)))
    assert (20, True) == (forgotten["events_deleted"], compacted["numFilesRemoved"] >= 2)
