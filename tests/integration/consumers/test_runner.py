"""The runner against a real broker: commit after the handler, dead letters, revocation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from consumers import metrics
from consumers.base import Consumer, EventRecord
from consumers.errors import TransientError
from consumers.runner import Runner
from consumers.settings import RunnerSettings
from streamer.kafka.config import KafkaSettings
from tests.support.events import event, produce
from tests.support.kafka import unique_name
from tests.support.waiting import until

pytestmark = pytest.mark.kafka


class Recorder(Consumer):
    """Records handled event ids; fails (transiently) on ids in `failing`; slow if asked."""

    name = "recorder"

    def __init__(self, failing: set[str] = frozenset(), delay_s: float = 0.0) -> None:  # type: ignore[assignment]
        self.handled: list[str] = []
        self.attempts: dict[str, int] = {}
        self.failing = failing
        self.delay_s = delay_s

    async def handle(self, record: EventRecord) -> None:
        self.attempts[record.event_id] = self.attempts.get(record.event_id, 0) + 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if record.event_id in self.failing:
            raise TransientError("the downstream is unavailable")
        self.handled.append(record.event_id)


@pytest.fixture
def kafka(kafka_bootstrap: str) -> KafkaSettings:
    """Settings with unique events and dead-letter topics for this test."""
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        events_topic=unique_name("events"),
        dead_letter_topic=unique_name("dlq"),
    )


SETTINGS = RunnerSettings(max_attempts=3, retry_initial_ms=10, retry_max_ms=50)


@contextlib.asynccontextmanager
async def running(runner: Runner) -> AsyncIterator[asyncio.Task[None]]:
    async with runner:
        task = asyncio.create_task(runner.run())
        try:
            yield task
        finally:
            runner.request_stop()
            await task


async def read_all(bootstrap: str, topic: str, count: int) -> list[Any]:
    reader = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await reader.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(60):
            while len(records) < count:
                batches = await reader.getmany(timeout_ms=200)
                records += [m for batch in batches.values() for m in batch]
    finally:
        await reader.stop()
    return records


async def test_unfinished_record_is_redelivered_after_stop(kafka: KafkaSettings) -> None:
    """A record whose handler never finished is not committed: the next instance gets it first."""
    events = [event("agent.message") for _ in range(3)]
    await produce(kafka.bootstrap_servers, kafka.events_topic, [("sesn_1", e) for e in events])
    group = unique_name("group")
    stuck = Recorder(failing={events[1]["id"]})
    settings = RunnerSettings(max_attempts=1_000, retry_initial_ms=10, retry_max_ms=20)
    async with running(Runner(stuck, kafka, settings, group_id=group)):
        await until(lambda: stuck.attempts.get(events[1]["id"], 0) >= 2)
    second = Recorder()
    async with running(Runner(second, kafka, SETTINGS, group_id=group)):
        await until(lambda: len(second.handled) >= 2)
    assert [events[1]["id"], events[2]["id"]] == second.handled


async def test_record_that_keeps_failing_goes_to_dead_letters(kafka: KafkaSettings) -> None:
    """After max_attempts transient failures the record is dead-lettered and the next handled."""
    events = [event("agent.message") for _ in range(2)]
    records = [("sesn_1", e) for e in events]
    await produce(kafka.bootstrap_servers, kafka.events_topic, records, partition=0)
    recorder = Recorder(failing={events[0]["id"]})
    async with running(Runner(recorder, kafka, SETTINGS, group_id=unique_name("group"))):
        await until(lambda: recorder.handled == [events[1]["id"]])
    [dead] = await read_all(kafka.bootstrap_servers, kafka.dead_letter_topic, 1)
    headers = {key: value.decode() for key, value in dead.headers}
    expected = {"dlq_error_kind": "transient", "dlq_consumer": "recorder",
                "dlq_topic": kafka.events_topic, "dlq_partition": "0", "dlq_offset": "0",
                "dlq_error": "the downstream is unavailable", "ce_id": events[0]["id"]}  # fmt: skip
    assert expected == {key: headers[key] for key in expected}
    assert (3, b"sesn_1") == (recorder.attempts[events[0]["id"]], dead.key)


async def test_record_that_is_not_an_event_goes_to_dead_letters(kafka: KafkaSettings) -> None:
    """A value that is not a JSON event never reaches the handler; it is dead-lettered."""
    good = event("agent.message")
    await produce(
        kafka.bootstrap_servers,
        kafka.events_topic,
        [("sesn_1", b"\xff not json"), ("sesn_1", good)],
    )
    recorder = Recorder()
    async with running(Runner(recorder, kafka, SETTINGS, group_id=unique_name("group"))):
        await until(lambda: recorder.handled == [good["id"]])
    [dead] = await read_all(kafka.bootstrap_servers, kafka.dead_letter_topic, 1)
    headers = dict(dead.headers)
    assert (b"bad_record", b"\xff not json") == (headers["dlq_error_kind"], dead.value)


async def test_revoked_partitions_are_committed_so_nothing_is_handled_twice(
    kafka: KafkaSettings,
) -> None:
    """When a second instance joins, the first commits what it handled before giving partitions
    away, so no record is handled by both."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(kafka.events_topic, 2, 1)])
    finally:
        await admin.close()
    events = [(f"sesn_{i % 7}", event("agent.message")) for i in range(300)]
    await produce(kafka.bootstrap_servers, kafka.events_topic, events)
    group = unique_name("group")
    revokes = metrics.COMMITS.labels("recorder", "revoke")
    revokes_before = revokes._value.get()
    first, second = Recorder(delay_s=0.02), Recorder()
    settings = RunnerSettings(max_batch_records=1_000)
    async with running(Runner(first, kafka, settings, group_id=group)):
        await until(lambda: len(first.handled) >= 10)
        async with running(Runner(second, kafka, settings, group_id=group)):
            await until(
                lambda: len(first.handled) + len(second.handled) >= len(events), timeout_secs=120
            )
    handled = first.handled + second.handled
    assert (sorted(e["id"] for _, e in events), 1.0) == (
        sorted(handled),
        revokes._value.get() - revokes_before,
    )


class Rendezvous(Consumer):
    """Session A's first record waits until session B's has been handled: only possible when
    sessions of one partition run concurrently."""

    name = "rendezvous"
    parallel_keys = True

    def __init__(self) -> None:
        self.handled: list[tuple[str, str]] = []
        self.b_seen = asyncio.Event()

    async def handle(self, record: EventRecord) -> None:
        if record.session_id == "sesn_a" and not self.handled:
            await asyncio.wait_for(self.b_seen.wait(), 30)
        if record.session_id == "sesn_b":
            self.b_seen.set()
        self.handled.append((record.session_id, record.event_id))


async def test_parallel_keys_run_sessions_concurrently_each_in_order(kafka: KafkaSettings) -> None:
    """With parallel_keys, one session waiting does not hold up another in the same partition,
    and each session's records are still handled in order."""
    a = [event("agent.message") for _ in range(3)]
    b = [event("agent.message") for _ in range(2)]
    records = [("sesn_a", a[0]), ("sesn_b", b[0]), ("sesn_a", a[1]), ("sesn_b", b[1]),
               ("sesn_a", a[2])]  # fmt: skip
    await produce(kafka.bootstrap_servers, kafka.events_topic, records, partition=0)
    consumer = Rendezvous()
    async with running(Runner(consumer, kafka, SETTINGS, group_id=unique_name("group"))):
        await until(lambda: len(consumer.handled) == 5)
    per_session = {s: [i for k, i in consumer.handled if k == s] for s in ("sesn_a", "sesn_b")}
    assert ({"sesn_a": [e["id"] for e in a], "sesn_b": [e["id"] for e in b]}, "sesn_b") == (
        per_session,
        consumer.handled[0][0],
    )


class Tally(Consumer):
    """Counts events per partition and stores counts with offsets in `store` (its "table").

    `store` outlives the instance, as a table or a state topic would; `fail_commits` makes the
    next commits raise, as a store that is down would.
    """

    name = "tally"
    owns_offsets = True

    def __init__(self, store: dict[int, tuple[int, int]]) -> None:
        self.store = store  # partition -> (next offset, count)
        self.counts: dict[int, int] = {}
        self.fail_commits = 0

    async def positions(self, partitions: set[int]) -> dict[int, int]:
        for partition in partitions:
            self.counts[partition] = self.store.get(partition, (0, 0))[1]
        return {p: self.store[p][0] for p in partitions if p in self.store}

    async def commit(self, offsets: dict[int, int], reason: str) -> None:
        del reason
        if self.fail_commits:
            self.fail_commits -= 1
            raise TransientError("the store is down")
        for partition, offset in offsets.items():
            self.store[partition] = (offset, self.counts[partition])

    async def handle(self, record: EventRecord) -> None:
        self.counts[record.partition] = self.counts.get(record.partition, 0) + 1


async def test_consumer_that_owns_offsets_resumes_from_its_store(kafka: KafkaSettings) -> None:
    """The runner seeks to the consumer's stored positions, not the group's committed offset."""
    first = [("sesn_1", event("agent.message")) for _ in range(3)]
    await produce(kafka.bootstrap_servers, kafka.events_topic, first, partition=0)
    store: dict[int, tuple[int, int]] = {}
    group = unique_name("group")
    tally = Tally(store)
    async with running(Runner(tally, kafka, SETTINGS, group_id=group)):
        await until(lambda: store.get(0) == (3, 3))
    store[0] = (1, 1)  # the store says only offset 0 is in: 1 and 2 must be handled again
    await produce(kafka.bootstrap_servers, kafka.events_topic, first[:1], partition=0)
    again = Tally(store)
    async with running(Runner(again, kafka, SETTINGS, group_id=group)):
        await until(lambda: store.get(0) == (4, 4))
    assert (4, 4) == store[0]


async def test_failed_commit_rewinds_to_the_durable_state(kafka: KafkaSettings) -> None:
    """A commit that raises leaves nothing half-counted: the records are handled again."""
    records = [("sesn_1", event("agent.message")) for _ in range(5)]
    store: dict[int, tuple[int, int]] = {}
    tally = Tally(store)
    tally.fail_commits = 2
    await produce(kafka.bootstrap_servers, kafka.events_topic, records, partition=0)
    async with running(Runner(tally, kafka, SETTINGS, group_id=unique_name("group"))):
        await until(lambda: store.get(0) == (5, 5))
    assert ((5, 5), 0) == (store[0], tally.fail_commits)
