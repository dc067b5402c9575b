"""`Fleet`: one member of the streamer group; follows the sessions of the partitions it owns.

Every instance subscribes to the control topic in one consumer group (round-robin assignment:
aiokafka's sticky assignor can leave a group rebalancing for good, aio-libs/aiokafka#1176). The
rebalance callbacks do no I/O: a member that spends seconds in them misses its heartbeats and is
expelled, and the group never settles. On assignment, a partition this instance kept goes on as
it was; a new one is paused and its `Lane` starts in the background (fencing the previous owner,
loading checkpoints, retried with backoff until it starts or the partition moves), then the
partition is read from its beginning: each announcement is followed by that lane. A partition
that moved away has its lane stopped in the background (followers cancelled, last batch
committed, producer closed); if the new owner fenced it first, that batch is aborted by the
fencing, and the new owner resumes from what was committed, so exactly once holds either way. A
lane whose sink failed (fenced by a newer owner, or any failed write: a lane never retries on a
second producer) is dropped, and started afresh if this instance still owns the partition.
Offsets are never committed: the compacted topic is its own state, read in full by each new owner.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError
from aiokafka.protocol.group import JoinGroupRequest

from streamer import telemetry
from streamer.api import ApiClient
from streamer.backoff import Backoff
from streamer.discovery import DiscoverySettings, InMemoryWatermarks, WatermarkStore
from streamer.fleet.bounded import BoundedDict
from streamer.fleet.control import Announcement, ControlTopic, decode, ensure_control_topic
from streamer.fleet.lane import Lane
from streamer.fleet.poller import POLLING_PARTITION, Poller
from streamer.fleet.settings import FleetSettings
from streamer.follower import FollowerSettings
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.resource import AsyncResource

log = structlog.get_logger(__name__)

_Detached = tuple[int, "Lane | None", "asyncio.Task[None] | None"]  # partition, lane, opening


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """Usually nothing: the assignment that follows says which partitions really moved (the
        eager protocol revokes all of them first). But a member the group expelled (it stalled
        past the session timeout) has lost them all already: it drops every lane before it can
        own anything again. It is no member then, so the wait holds back no one."""
        if self._fleet.expelled:
            await self._fleet.release(self._fleet.owned)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._fleet.claim(list(assigned))


class Fleet(AsyncResource):
    """Announces sessions and follows those of its partitions. `stop` is safe twice."""

    def __init__(
        self,
        client: ApiClient,
        kafka: KafkaSettings,
        sink: SinkSettings,
        follower: FollowerSettings,
        settings: FleetSettings,
        *,
        discovery: DiscoverySettings | None = None,
        watermarks: WatermarkStore | None = None,
    ) -> None:
        self._client = client
        self._kafka = kafka
        self._sink = sink
        self._follower = follower
        self.settings = settings
        self.poller = (
            Poller(client, watermarks or InMemoryWatermarks(), self.follow, self.secured,
                   settings=discovery, backoff=follower)
            if discovery is not None
            else None
        )  # fmt: skip
        self.control = ControlTopic(kafka)
        self.lanes: dict[int, Lane] = {}
        self._partitions = settings.partitions
        self._consumer: AIOKafkaConsumer | None = None
        self._loop: asyncio.Task[None] | None = None
        # Recently announced ids -> whether the broker acknowledged the announcement.
        self._announced: BoundedDict[str, bool] = BoundedDict(settings.announced_kept)
        self._announcing: set[asyncio.Task[None]] = set()
        self._behind: dict[TopicPartition, int] = {}  # assigned, not yet read to this offset
        self._read_to: dict[int, int] = {}  # owned partition -> next offset to read
        self._opening: dict[int, asyncio.Task[None]] = {}  # lanes starting in the background
        self._closing: set[asyncio.Task[None]] = set()  # lanes of moved partitions stopping
        self._lane_backoff = Backoff(follower.reconnect_initial_secs, follower.reconnect_max_secs)
        self._assigned_once = False
        self._started = False

    async def start(self, session_ids: Iterable[str] = ()) -> None:
        """Create the control topic, announce `session_ids`, join the group."""
        self._partitions = await ensure_control_topic(
            self._kafka, self._sink, self.settings.partitions
        )
        await self.control.start()
        for session_id in session_ids:
            await self._announce(Announcement(session_id))
        consumer = AIOKafkaConsumer(
            **self._kafka.client_kwargs(),
            group_id=self.settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
        )
        consumer.subscribe([self._kafka.sessions_topic], listener=_Listener(self))
        self._consumer = consumer  # the listener may run as soon as the consumer starts
        await consumer.start()
        self._started = True
        self._loop = asyncio.create_task(self._consume_forever(), name="fleet-consumer")

    async def stop(self) -> None:
        """Stop discovery, release every lane (commit), leave the group."""
        if not self._started:
            return
        self._started = False
        if self.poller is not None:
            await self.poller.stop()
        for task in (self._loop, *self._announcing):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._loop,) if t is not None), return_exceptions=True)
        await self.release(self.owned)
        await asyncio.gather(*self._closing, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()  # leaves the group: the partitions move at once
        await self.control.stop()

    @property
    def followed(self) -> frozenset[str]:
        """Sessions with a running follower on this instance."""
        return frozenset().union(*(lane.supervisor.followed for lane in self.lanes.values()))

    @property
    def caught_up(self) -> bool:
        """Assigned at least once, and every owned partition read to where it stood then."""
        return (
            self._assigned_once and not self._behind and not self._opening and not self._announcing
        )

    @property
    def ready(self) -> bool:
        """Member of the group, owning its partitions and caught up on them; when it polls
        (it owns partition 0), a discovery pass succeeded and the last one did not crash."""
        loop = self._loop
        alive = self._started and loop is not None and not loop.done() and self.caught_up
        poller = self.poller
        if poller is None or not poller.running:
            return alive
        return alive and poller.passed_once and not poller.failing

    @property
    def owned(self) -> list[int]:
        """Partitions with a lane, running or starting."""
        return sorted({*self.lanes, *self._opening})

    @property
    def expelled(self) -> bool:
        """The group dropped this member (it lost its member id: it missed its heartbeats).
        aiokafka has no public call for this; its coordinator resets the id when told."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        member_id = getattr(coordinator, "member_id", None)
        return bool(member_id == JoinGroupRequest.UNKNOWN_MEMBER_ID)

    def secured(self, session_id: str) -> bool:
        """Whether the group has `session_id`: its announcement was acknowledged."""
        return self._announced.get(session_id) is True

    def follow(
        self, session_id: str, agent_id: str | None = None, agent_model: str | None = None
    ) -> bool:
        """Announce `session_id` to the group (whichever instance owns it follows it).

        Returns False when it was announced recently already."""
        if not self._started:
            raise RuntimeError("Fleet is not started")
        if session_id in self._announced:
            return False
        self._announced[session_id] = False
        task = asyncio.create_task(self._announce(Announcement(session_id, agent_id, agent_model)))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)
        return True

    async def _announce(self, announcement: Announcement) -> None:
        self._announced[announcement.session_id] = False
        try:
            await self.control.announce(announcement)
            self._announced[announcement.session_id] = True
        except Exception as exc:  # noqa: BLE001 - forget it, so the next call announces again
            self._announced.pop(announcement.session_id, None)
            telemetry.error("announce_failed", error_type=type(exc).__name__)

    def claim(self, assigned: list[TopicPartition]) -> None:
        """Take the group's new assignment: keep what stayed, open lanes for what is new (in the
        background), close the lanes of what moved away. Does no I/O (it runs in the rebalance
        callback)."""
        consumer = self._consumer
        assert consumer is not None
        owned = {tp.partition for tp in assigned}
        for partition in [*self.lanes, *self._opening]:
            lane = self.lanes.get(partition)
            if partition not in owned or (lane is not None and lane.failed):
                self._close(partition)
        for tp in assigned:
            if tp.partition in self.lanes:
                self._resume_reading(consumer, tp)
                continue
            consumer.pause(tp)  # nothing is read before its lane exists
            if tp.partition not in self._opening:
                self._open(tp)
        self._assigned_once = True
        log.info("partitions_assigned", partitions=sorted(owned))

    def _resume_reading(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        """A kept partition goes on from where its lane read to (the group reset it)."""
        if tp.partition in self._read_to:
            consumer.seek(tp, self._read_to[tp.partition])

    def _open(self, tp: TopicPartition) -> None:
        task = asyncio.create_task(self._open_lane(tp), name=f"lane-open:{tp.partition}")
        self._opening[tp.partition] = task
        task.add_done_callback(lambda _: self._opened(tp.partition, task))

    def _opened(self, partition: int, task: asyncio.Task[None]) -> None:
        if self._opening.get(partition) is task:
            del self._opening[partition]

    async def _open_lane(self, tp: TopicPartition) -> None:
        """Start a lane for `tp` (retried until it starts, or cancelled when `tp` moves), then
        read `tp` from its beginning."""
        consumer = self._consumer
        assert consumer is not None
        lane, end = await self._started_lane(consumer, tp)
        # No await from here on: the lane, the position and the pause change together.
        self.lanes[tp.partition] = lane
        self._read_to.pop(tp.partition, None)
        consumer.seek(tp, 0)  # the compacted topic's beginning (reset to the earliest kept)
        if end > 0:
            self._behind[tp] = end
        consumer.resume(tp)
        telemetry.FLEET_PARTITIONS.set(len(self.lanes))
        if self.poller is not None and tp.partition == POLLING_PARTITION:
            self.poller.start()

    async def _started_lane(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition
    ) -> tuple[Lane, int]:
        """A started lane for `tp` and the partition's end offset; any failure is retried, so
        an owned partition is never left without a lane."""
        attempt = 0
        while True:
            lane = self._lane(tp.partition)
            try:
                await lane.start()
                end = (await consumer.end_offsets([tp]))[tp]
            except asyncio.CancelledError:
                await lane.stop()
                raise
            except Exception as exc:  # noqa: BLE001 - retried: an owned partition needs a lane
                telemetry.error("lane_start_failed", error_type=type(exc).__name__,
                                partition=tp.partition, attempt=attempt)  # fmt: skip
                await lane.stop()
            else:
                return lane, end
            await asyncio.sleep(self._lane_backoff.delay(attempt))
            attempt += 1

    def _close(self, partition: int) -> None:
        """Stop `partition`'s lane (or its opening) in the background: it moved away."""
        task = asyncio.create_task(self._settle([self._detach(partition)]), name="lane-close")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def release(self, partitions: list[int]) -> None:
        """Stop the lanes (and openings) of `partitions`; returns once their last batch is
        settled (committed, or aborted by a newer owner's fencing)."""
        await self._settle([self._detach(partition) for partition in set(partitions)])

    def _detach(self, partition: int) -> _Detached:
        """Forget `partition` at once (a later assignment of it opens a fresh lane)."""
        lane = self.lanes.pop(partition, None)
        opening = self._opening.pop(partition, None)
        if opening is not None:
            opening.cancel()
        self._behind = {tp: e for tp, e in self._behind.items() if tp.partition != partition}
        self._read_to.pop(partition, None)
        telemetry.FLEET_PARTITIONS.set(len(self.lanes))
        return partition, lane, opening

    async def _settle(self, detached: list[_Detached]) -> None:
        """Wait for detached openings to end and detached lanes to stop."""
        partitions = {partition for partition, _, _ in detached}
        poller = self.poller
        if poller is not None and POLLING_PARTITION in partitions - set(self.lanes):
            await poller.stop()
        openings = [opening for _, _, opening in detached if opening is not None]
        lanes = [lane for _, lane, _ in detached if lane is not None]
        await asyncio.gather(*openings, *(lane.stop() for lane in lanes), return_exceptions=True)
        if lanes:
            log.info("partitions_released", partitions=sorted(lane.partition for lane in lanes))

    def _lane(self, partition: int) -> Lane:
        return Lane(
            partition,
            self._partitions,
            client=self._client,
            control=self.control,
            kafka=self._kafka,
            sink=self._sink,
            follower=self._follower,
            ended_kept=self.settings.ended_kept,
        )

    async def _consume_forever(self) -> None:
        try:
            await self._consume()
        except Exception as exc:
            log.exception("fleet_consumer_failed", error=type(exc).__name__)
            raise

    async def _consume(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for tp, records in batches.items():
                lane = self.lanes.get(tp.partition)
                if lane is None or not records:
                    continue
                for record in records:
                    announcement = decode(record.key, record.value)
                    if announcement is not None:
                        lane.follow(announcement)
                self._read_to[tp.partition] = records[-1].offset + 1
            for tp, end in list(self._behind.items()):
                with contextlib.suppress(IllegalStateError):  # mid-rebalance: not assigned
                    if await consumer.position(tp) >= end:
                        self._behind.pop(tp, None)
            await self._drop_failed()

    async def _drop_failed(self) -> None:
        """Drop lanes whose sink failed; start afresh those of partitions this instance still
        owns (a failed write, or after a stall the group gave back the very partition it was
        fenced on)."""
        consumer = self._consumer
        assert consumer is not None
        for partition, lane in list(self.lanes.items()):
            if not lane.failed:
                continue
            reason = "partition_fenced" if lane.fenced else "lane_failed"
            log.warning(reason, partition=partition, error=str(lane.sink.failure))
            telemetry.error(reason)
            await self.release([partition])
            tp = TopicPartition(self._kafka.sessions_topic, partition)
            # Expelled, it may still list the partition: the group's next assignment says.
            if not self.expelled and tp in consumer.assignment() and partition not in self._opening:
                consumer.pause(tp)
                self._open(tp)
