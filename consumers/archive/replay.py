"""`streamer archive replay`: archived events back onto a Kafka topic, in the events topic's format.

Each event becomes the record the streamer wrote (docs/RECORDS.md): key = session id, the
CloudEvents headers built by `streamer.kafka.records.RecordFormat`, value = `raw`. Events are
written in archive order (by original partition and offset, so per-session order is kept), in
transactions of `batch_events`, read from the table in batches of that size as they are written.

**Idempotent when rerun.** The transactional id is derived from the request (target topic,
sessions, since, until), so a rerun of the same range first fences any earlier run still alive and
aborts the transaction it left open. Only then does it read the target topic's committed records
(`read_committed`, up to the end offsets) and collect their `ce_id`s; an event whose id is already
there is skipped. A rerun after a complete run writes nothing; a rerun after a crash writes what
the committed transactions did not hold, in order. Cost: one read of the target topic per run.
Overlapping *different* ranges must not run at the same time (their ids differ, so neither fences
the other).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from consumers.archive.location import ArchiveCommandError
from streamer.events import SessionEvent
from streamer.kafka.config import KafkaSettings
from streamer.kafka.offsets import log_end_offsets
from streamer.kafka.records import RecordFormat

log = structlog.get_logger(__name__)

_COLUMNS = ["session_id", "event_id", "type", "thread_id", "agent_id", "agent_model", "raw",
            "kafka_topic", "kafka_partition", "kafka_offset"]  # fmt: skip
_ORDER = "kafka_topic, kafka_partition, kafka_offset"
DEFAULT_PARTITIONS = 12  # a missing target topic is created with as many as the events topic


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What to replay where."""

    topic: str
    sessions: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    source: str = "https://api.anthropic.com/v1/sessions"
    batch_events: int = 1000

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ReplayRequest:
        """From `streamer archive replay`'s options."""
        base = os.environ.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com")
        if args.batch_events < 1:
            raise ArchiveCommandError("--batch-events must be at least 1")
        return cls(
            topic=args.topic,
            sessions=tuple(args.session),
            since=parse_time(args.since, "--since"),
            until=parse_time(args.until, "--until"),
            source=args.source or base.rstrip("/") + "/v1/sessions",
            batch_events=args.batch_events,
        )

    def transactional_id(self) -> str:
        """The same for the same range into the same topic: a rerun fences its predecessor."""
        parts = [self.topic, ",".join(sorted(set(self.sessions))),
                 _iso(self.since), _iso(self.until)]  # fmt: skip
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]
        return f"agents-streamer-archive-replay-{digest}"


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """What one run did."""

    archived: int
    already_present: int
    written: int
    transactions: int
    transactional_id: str


def parse_time(text: str | None, flag: str) -> datetime | None:
    """An RFC 3339 / ISO 8601 instant (UTC when it names no offset)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ArchiveCommandError(f"{flag}: not an RFC 3339 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_replay(
    uri: str, request: ReplayRequest, kafka: KafkaSettings | None = None
) -> dict[str, Any]:
    """Replay (blocking); returns the summary as a dict."""
    summary = asyncio.run(replay(uri, request, kafka or KafkaSettings()))
    return {name: getattr(summary, name) for name in ReplaySummary.__slots__}


async def replay(uri: str, request: ReplayRequest, kafka: KafkaSettings) -> ReplaySummary:
    """Write the archived events of `request`'s range to its topic (see the module docstring)."""
    source = await asyncio.to_thread(ArchivedEvents, uri, request)
    try:
        producer = await _claimed_producer(kafka, request.transactional_id())
        try:
            summary = await _replay(source, request, kafka, producer)
        finally:
            await producer.stop()
    finally:
        source.close()
    log.info("archive_replayed", topic=request.topic, archived=summary.archived,
             written=summary.written, already_present=summary.already_present)  # fmt: skip
    return summary


async def _replay(
    source: ArchivedEvents, request: ReplayRequest, kafka: KafkaSettings, producer: Any
) -> ReplaySummary:
    records = RecordFormat(source=request.source, events_topic=request.topic,
                           checkpoints_topic="", dead_letter_topic="")  # fmt: skip
    partitions = await topic_partitions(kafka, request.topic)
    present = await existing_ids(kafka, request.topic, partitions or set())
    exists = partitions is not None
    archived = written = transactions = 0
    pending: list[SessionEvent] = []
    while (batch := await asyncio.to_thread(source.next_batch)) is not None:
        archived += len(batch)
        pending += [e for e in batch if e.event_id not in present]
        while len(pending) >= request.batch_events or (batch == [] and pending):
            chunk, pending = pending[: request.batch_events], pending[request.batch_events :]
            if not exists:
                await _create_topic(kafka, request.topic)
                exists = True
            await _write(producer, [records.event_record(e) for e in chunk])
            written, transactions = written + len(chunk), transactions + 1
    return ReplaySummary(archived, archived - written, written, transactions,
                         request.transactional_id())  # fmt: skip


class ArchivedEvents:
    """The range's events in archive order (original partition and offset), read in batches
    from one DuckDB query (blocking: call from a thread); `next_batch` returns `[]` once at the
    end, then None."""

    def __init__(self, uri: str, request: ReplayRequest) -> None:
        from consumers.archive.query import connect  # noqa: PLC0415

        sql, params = _range_query(request)
        self._con = connect(uri)
        self._reader = self._con.sql(sql, params=params).to_arrow_reader(request.batch_events)
        self._done = False

    def next_batch(self) -> list[SessionEvent] | None:
        """The next events; `[]` at the end (once), then None."""
        if self._done:
            return None
        try:
            batch = self._reader.read_next_batch()
        except StopIteration:
            self._done = True
            return []
        return [_event(row) for row in batch.to_pylist()]

    def close(self) -> None:
        """Release the query and the connection; safe twice."""
        self._done = True
        self._con.close()


def load_events(uri: str, request: ReplayRequest) -> list[SessionEvent]:
    """Every archived event of the range, in archive order."""
    source = ArchivedEvents(uri, request)
    try:
        events: list[SessionEvent] = []
        while batch := source.next_batch():
            events += batch
        return events
    finally:
        source.close()


def _range_query(request: ReplayRequest) -> tuple[str, list[Any]]:
    conditions: list[str] = ["true"]
    params: list[Any] = []
    if request.sessions:
        conditions.append("session_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(request.sessions))
    if request.since is not None:  # `date` first: whole partitions are skipped
        conditions.append("date >= ?::DATE AND processed_at >= ?::TIMESTAMPTZ")
        params += [request.since.date(), request.since]
    if request.until is not None:
        conditions.append("date <= ?::DATE AND processed_at < ?::TIMESTAMPTZ")
        params += [request.until.date(), request.until]
    where = " AND ".join(conditions)  # placeholders only: the values are parameters
    sql = f"SELECT {', '.join(_COLUMNS)} FROM events WHERE {where} ORDER BY {_ORDER}"  # noqa: S608
    return sql, params


def _event(row: dict[str, Any]) -> SessionEvent:
    raw = row["raw"].encode()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = {}
    processed_at = data.get("processed_at") if isinstance(data, dict) else None
    return SessionEvent(
        session_id=row["session_id"],
        event_id=row["event_id"],
        type=row["type"],
        processed_at=processed_at if isinstance(processed_at, str) else "",
        raw=raw,
        thread_id=row["thread_id"] or None,
        agent_id=row["agent_id"] or None,
        agent_model=row["agent_model"] or None,
    )


async def _claimed_producer(kafka: KafkaSettings, transactional_id: str) -> Any:
    """A started transactional producer that owns `transactional_id`: an empty transaction
    makes the broker fence an earlier holder and abort what it left open."""
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415

    producer = AIOKafkaProducer(**kafka.client_kwargs(), transactional_id=transactional_id,
                                enable_idempotence=True, acks="all")  # fmt: skip
    try:
        await producer.start()
        await producer.begin_transaction()
        await producer.commit_transaction()
    except BaseException:
        await producer.stop()
        raise
    return producer


async def _write(producer: Any, records: Sequence[Any]) -> None:
    await producer.begin_transaction()
    try:
        futures = [
            await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records
        ]
        await asyncio.gather(*futures)
    except BaseException:
        await producer.abort_transaction()
        raise
    await producer.commit_transaction()


async def existing_ids(kafka: KafkaSettings, topic: str, partitions: set[int]) -> set[str]:
    """The `ce_id`s of every committed record of `topic`'s `partitions`."""
    ids = {_record_id(message) async for message in committed_records(kafka, topic, partitions)}
    ids.discard("")
    return ids


async def committed_records(
    kafka: KafkaSettings, topic: str, partitions: set[int]
) -> AsyncIterator[Any]:
    """Every committed record of `topic`'s `partitions`, from their beginning to the end
    offsets they had when reading started (no consumer group, nothing committed)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415

    if not partitions:
        return
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed")  # fmt: skip
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await log_end_offsets(kafka, tps)  # not the LSO: see there
        pending = {tp for tp, end in ends.items() if end > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for messages in batches.values():
                for message in messages:
                    yield message
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()


async def topic_partitions(kafka: KafkaSettings, topic: str) -> set[int] | None:
    """The partitions of `topic`; None when it does not exist."""
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415

    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        # Named in a metadata request, a missing topic would be created by a broker that
        # auto-creates topics: look for it in the list first.
        if topic not in await admin.list_topics():
            return None
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    found = [t for t in described if t["topic"] == topic and t["error_code"] == 0]
    return {p["partition"] for p in found[0]["partitions"]} if found else None


def _record_id(message: Any) -> str:
    for name, value in message.headers or ():
        if name == "ce_id":
            return bytes(value).decode("utf-8", "replace")
    try:
        data = orjson.loads(message.value or b"")
    except orjson.JSONDecodeError:
        return ""
    event_id = data.get("id") if isinstance(data, dict) else None
    return event_id if isinstance(event_id, str) else ""


async def _create_topic(kafka: KafkaSettings, topic: str) -> None:
    """Create the missing target topic (no broker auto-creation needed)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: PLC0415
    from aiokafka.errors import TopicAlreadyExistsError  # noqa: PLC0415

    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, DEFAULT_PARTITIONS, 1)])
    except TopicAlreadyExistsError:
        return
    finally:
        await admin.close()


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""
