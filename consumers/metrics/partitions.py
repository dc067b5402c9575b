"""`PartitionedAggregates`: a consumer that owns its offsets, one aggregate per input partition.

Per partition it keeps a `PartitionState` (the aggregates and the next offset they cover) and
stores it in the state topic (`StateStore`), in one transaction per record, every
`flush_interval_ms` and on revocation and stop. Since `handle` never awaits, a partition's state
always covers exactly the records up to its `next_offset`, so it can be stored at any moment.
`/metrics` exports the last *stored* state of each owned partition (`exported`): what a new
owner would start from, so a partition that moves never goes backwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import abstractmethod
from collections import defaultdict
from typing import Any

import structlog
from aiokafka.errors import KafkaError, ProducerFenced

from consumers.base import Consumer, ConsumerContext, EventRecord
from consumers.errors import ConsumerError
from consumers.metrics.config import MetricsSettings
from consumers.metrics.problems import Problems
from consumers.metrics.state import PartitionState, Snapshot
from consumers.metrics.store import StateStore

log = structlog.get_logger(__name__)

CLAIM_ATTEMPTS = 3


class PartitionedAggregates(Consumer):
    """Base of the metrics consumers: positions/commit over per-partition state records."""

    owns_offsets = True

    def __init__(self, settings: MetricsSettings | None = None) -> None:
        self.settings = settings or MetricsSettings()
        self.problems = Problems()
        self.states: dict[int, PartitionState] = {}
        self.exported: dict[int, Snapshot] = {}  # the stored state of each owned partition
        self._dirty: set[int] = set()
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._store: StateStore | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._identity: dict[str, Any] = {}

    @abstractmethod
    def fold(self, state: PartitionState, record: EventRecord) -> None:
        """Count one record into its partition's state (must not await, must not raise)."""

    async def start(self, ctx: ConsumerContext) -> None:
        """Start the state store and the periodic flush."""
        self._identity = {"group": ctx.group_id, "topic": ctx.kafka.events_topic}
        self._store = StateStore(
            ctx.kafka, self.settings.state_topic, group_id=ctx.group_id,
            source_topic=ctx.kafka.events_topic, partitions=self.settings.state_partitions,
            read_timeout_secs=self.settings.read_timeout_secs,
        )  # fmt: skip
        await self._store.start()
        self._flusher = asyncio.create_task(self._flush_forever(), name=f"{self.name}-flush")

    async def stop(self) -> None:
        """Store every partition's state one last time, then close; safe twice."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        if self._store is not None:
            await self._flush_quietly(set(self.states))
            store, self._store = self._store, None
            await store.stop()
        self.states.clear()
        self.exported.clear()

    @property
    def store(self) -> StateStore:
        """The started state store."""
        if self._store is None:
            raise ConsumerError(f"{self.name} is not started", kind="config")
        return self._store

    async def positions(self, partitions: set[int]) -> dict[int, int]:
        """Claim each partition (fencing its last owner) and load its stored state."""
        found: dict[int, int] = {}
        for partition in sorted(partitions):
            async with self._locks[partition]:
                state = self._load(partition, await self._claim(partition))
                self.states[partition] = state
                self.exported[partition] = state.snapshot()
                self._dirty.discard(partition)
            if state.next_offset is not None:
                found[partition] = state.next_offset
        log.info("metrics_state_loaded", consumer=self.name, positions=found)
        return found

    async def _claim(self, partition: int) -> bytes | None:
        """The store's claim, retried a few times on broker trouble (the runner cannot ask again
        until the next rebalance: a partition that fails here is not counted until then)."""
        for attempt in range(1, CLAIM_ATTEMPTS + 1):
            try:
                return await self.store.claim(partition)
            except (KafkaError, TimeoutError) as exc:
                log.error("metrics_state_claim_failed", consumer=self.name, partition=partition,  # noqa: TRY400
                          attempt=attempt, error=repr(exc))  # fmt: skip
                if attempt == CLAIM_ATTEMPTS:
                    raise
                await asyncio.sleep(attempt)
        raise AssertionError("unreachable")

    def _load(self, partition: int, value: bytes | None) -> PartitionState:
        if value is None:
            return PartitionState()
        try:
            return PartitionState.from_json(value)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            # Refuse to start the partition over from zero (that would count it twice).
            log.error("metrics_state_unreadable", partition=partition, error=repr(exc))  # noqa: TRY400
            raise ConsumerError(
                f"state of partition {partition} is unreadable", kind="state"
            ) from None

    async def handle(self, record: EventRecord) -> None:
        """Fold the record into its partition's state, once (by offset), when ours."""
        state = self.fresh(record.partition, record.offset)
        if state is not None:
            self.fold(state, record)
            self.advance(record.partition, record.offset)

    def fresh(self, partition: int, offset: int) -> PartitionState | None:
        """The state to count the record at `offset` into; None when the partition is not ours
        or the record is counted already (a fetch from before a seek can hand a record over
        again: seen with a never-stored partition sought to its beginning)."""
        state = self.states.get(partition)
        if state is None or offset < (state.next_offset or 0):
            return None
        return state

    def advance(self, partition: int, offset: int) -> None:
        """The record at `offset` is counted: the state now covers everything before offset+1."""
        self.states[partition].next_offset = offset + 1
        self._dirty.add(partition)

    async def commit(self, offsets: dict[int, int], reason: str) -> None:
        """Note offsets the runner skipped (dead letters); store now on revoke and stop."""
        for partition, offset in offsets.items():
            state = self.states.get(partition)
            if state is not None and (state.next_offset or 0) < offset:
                state.next_offset = offset
                self._dirty.add(partition)
        if reason in ("revoke", "stop"):
            await self.flush(set(offsets))

    async def on_revoked(self, partitions: set[int]) -> None:
        """Store what is left, then forget the partitions (their series leave `/metrics`)."""
        if self._store is not None:
            await self._flush_quietly(partitions)
        for partition in partitions:
            async with self._locks[partition]:
                self.states.pop(partition, None)
                self.exported.pop(partition, None)
                self._dirty.discard(partition)
                if self._store is not None:
                    await self._store.release(partition)

    async def flush(self, partitions: set[int]) -> None:
        """Store the state of each dirty partition among `partitions`; raises on a failure."""
        failed: BaseException | None = None
        for partition in sorted(partitions & self._dirty):
            try:
                await self._flush_one(partition)
            except Exception as exc:  # noqa: BLE001 - try the others, raise the first
                failed = failed or exc
        if failed is not None:
            raise failed

    async def _flush_one(self, partition: int) -> None:
        async with self._locks[partition]:
            state = self.states.get(partition)
            if state is None or partition not in self._dirty or not self.store.owns(partition):
                return
            value = state.to_json(**self._identity, partition=partition)
            snapshot = state.snapshot()
            self._dirty.discard(partition)
            try:
                await self.store.write(partition, value)
            except ProducerFenced:
                # Another replica claimed the partition: never write it again until reassigned.
                log.warning("metrics_partition_fenced", consumer=self.name, partition=partition)
                self.states.pop(partition, None)
                self.exported.pop(partition, None)
                await self.store.release(partition)
                raise
            except BaseException:
                self._dirty.add(partition)
                raise
            self.exported[partition] = snapshot

    async def _flush_quietly(self, partitions: set[int]) -> None:
        try:
            await self.flush(partitions)
        except Exception as exc:  # noqa: BLE001 - the stored offsets still match the stored state
            log.warning("metrics_flush_failed", consumer=self.name, error=repr(exc))

    async def _flush_forever(self) -> None:
        interval = self.settings.flush_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush(set(self._dirty))
            except Exception as exc:  # noqa: BLE001 - retried next round; state is unchanged
                log.warning("metrics_flush_failed", consumer=self.name, error=repr(exc))
