"""Helpers for the sink's tests against a real broker: unique topics, sinks, readers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from streamer.events import SessionEvent
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.kafka.sink import KafkaSink
from streamer.kafka.writers import TransactionalWriter
from tests.support.kafka import unique_name


@dataclass(frozen=True)
class Read:
    """One record as a read_committed subscriber sees it."""

    key: str
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int


def make_event(session_id: str, n: int, size: int = 300) -> SessionEvent:
    """A realistic agent.message event whose processed_at increases with `n`."""
    processed_at = f"2026-04-07T04:{n // 60000 % 60:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}Z"
    event_id = f"sevt_{session_id}_{n:06d}"
    raw = orjson.dumps(
        {
            "type": "agent.message",
            "id": event_id,
            "processed_at": processed_at,
            "content": [{"type": "text", "text": "x" * size}],
        }
    )
    return SessionEvent(session_id, event_id, "agent.message", processed_at, raw)


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    """Settings on the test broker with topics no other test uses."""
    return settings_for(kafka_bootstrap)


def settings_for(bootstrap: str) -> KafkaSettings:
    """KafkaSettings with fresh topic names on `bootstrap`."""
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        events_topic=unique_name("events"),
        checkpoints_topic=unique_name("checkpoints"),
        dead_letter_topic=unique_name("dead-letter"),
        deltas_topic=unique_name("deltas"),
    )


def sink_settings(**overrides: Any) -> SinkSettings:
    """Small-topic sink settings with a fresh transactional id."""
    values: dict[str, Any] = {
        "transactional_id": unique_name("tx"),
        "events_partitions": 3,
        "checkpoints_partitions": 2,
        "api_base_url": "http://127.0.0.1:8765",
    }
    values.update(overrides)
    return SinkSettings(**values)


SinkFactory = Callable[..., KafkaSink]


@pytest.fixture
def make_sink(kafka_settings: KafkaSettings) -> SinkFactory:
    """Build a sink on this test's topics (settings overridable per call)."""

    def build(settings: SinkSettings | None = None) -> KafkaSink:
        return KafkaSink(kafka_settings, settings or sink_settings())

    return build


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    expected: int,
    timeout_s: float = 60,
    quiet_s: float = 1.5,
    isolation_level: str = "read_committed",
) -> list[Read]:
    """Everything a read_committed reader sees on `topic`: waits for `expected` records, then
    keeps polling for `quiet_s` more so that an extra (doubled) record would be seen too."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,  # no group coordinator: reads right after a broker restart too
        isolation_level=isolation_level,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Read] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        # Short of `expected` at the deadline: return what was read, so the test's assertion
        # shows which records are missing.
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            records += _reads(await consumer.getmany(timeout_ms=500))
        records += _reads(await consumer.getmany(timeout_ms=int(quiet_s * 1000)))
    finally:
        await consumer.stop()
    return records


def _reads(batches: dict[Any, list[Any]]) -> list[Read]:
    return [
        Read(m.key.decode(), m.value, {k: bytes(v) for k, v in m.headers}, m.partition, m.offset)
        for messages in batches.values()
        for m in messages
    ]


def ids_by_session(records: list[Read]) -> dict[str, list[str]]:
    """Event ids per session in the order a subscriber reads them."""
    out: dict[str, list[str]] = {}
    for record in records:
        out.setdefault(record.key, []).append(record.headers["ce_id"].decode())
    return out


def difference(expected: dict[str, list[str]], actual: dict[str, list[str]]) -> str:
    """A short account of missing, doubled and reordered ids per session (assertion message)."""
    lines = []
    for session in sorted(set(expected) | set(actual)):
        want, got = expected.get(session, []), actual.get(session, [])
        missing = [i for i in want if i not in set(got)]
        doubled = sorted({i for i in got if got.count(i) > 1})
        if missing or doubled or want != got:
            pairs = enumerate(zip(want, got, strict=False))
            diverges = next((n for n, (a, b) in pairs if a != b), None)
            lines.append(
                f"{session}: {len(want)} expected, {len(got)} read; missing {missing[:10]}; "
                f"doubled {doubled[:10]}; first divergence at {diverges}"
            )
    return "\n".join(lines)


W = TypeVar("W", bound="WrappedWriter")


class WrappedWriter:
    """A sink's transactional writer with a fault of a test's making: subclasses override
    `write` and call `self.inner` for the writes that go through."""

    def __init__(self, inner: TransactionalWriter) -> None:
        self.inner = inner
        self.writes = 0

    @property
    def started(self) -> bool:
        return self.inner.started

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()


def wrap_writer(sink: KafkaSink, wrapped: Callable[[TransactionalWriter], W]) -> W:
    """Put `wrapped(the sink's writer)` in the sink's place of its writer."""
    assert isinstance(sink._writer, TransactionalWriter)
    writer = wrapped(sink._writer)
    sink._writer = writer  # type: ignore[assignment]
    return writer
