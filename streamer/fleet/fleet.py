"""`Fleet`: one member of the streamer group; follows the sessions of the partitions it owns.

Every instance subscribes to the control topic in one consumer group. On assignment, a `Lane`
per new partition is started (fencing the previous owner, loading checkpoints) and the
partition is read from its beginning: each announcement is followed by that lane. On revocation,
the lanes of the revoked partitions stop (followers cancelled, last batch committed or aborted,
producer closed) before the consumer lets the partitions go. A lane whose sink is fenced is
dropped and the instance carries on with the others. Offsets are never committed: the compacted
topic is its own state, read in full by each new owner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from streamer import telemetry
from streamer.api import ApiClient
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


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._fleet.release([tp.partition for tp in revoked])

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._fleet.claim(list(assigned))


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
        await self.release(list(self.lanes))
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
        return self._assigned_once and not self._behind and not self._announcing

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

    async def claim(self, assigned: list[TopicPartition]) -> None:
        """Start lanes for newly assigned partitions, and read those from their beginning."""
        consumer = self._consumer
        assert consumer is not None
        new = [tp for tp in assigned if tp.partition not in self.lanes]
        lanes = [self._lane(tp.partition) for tp in new]
        results = await asyncio.gather(*(lane.start() for lane in lanes), return_exceptions=True)
        for tp, lane, result in zip(new, lanes, results, strict=True):
            if isinstance(result, BaseException):
                telemetry.error("lane_start_failed", error_type=type(result).__name__)
                await lane.stop()
                continue
            self.lanes[tp.partition] = lane
        if new:
            await consumer.seek_to_beginning(*new)
            ends = await consumer.end_offsets(new)
            self._behind.update({tp: end for tp, end in ends.items() if end > 0})
        self._assigned_once = True
        telemetry.FLEET_PARTITIONS.set(len(self.lanes))
        if self.poller is not None and POLLING_PARTITION in self.lanes:
            self.poller.start()
        log.info("partitions_assigned", partitions=sorted(tp.partition for tp in assigned))

    async def release(self, partitions: list[int]) -> None:
        """Stop the lanes of revoked partitions; returns once their last batch is settled."""
        if self.poller is not None and POLLING_PARTITION in partitions:
            await self.poller.stop()
        lanes = [self.lanes.pop(p) for p in partitions if p in self.lanes]
        self._behind = {tp: e for tp, e in self._behind.items() if tp.partition not in partitions}
        await asyncio.gather(*(lane.stop() for lane in lanes), return_exceptions=True)
        telemetry.FLEET_PARTITIONS.set(len(self.lanes))
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
                for record in records:
                    announcement = decode(record.key, record.value)
                    if lane is not None and announcement is not None:
                        lane.follow(announcement)
            for tp, end in list(self._behind.items()):
                if await consumer.position(tp) >= end:
                    del self._behind[tp]
            await self._drop_fenced()

    async def _drop_fenced(self) -> None:
        for partition, lane in list(self.lanes.items()):
            if lane.fenced:
                log.warning("partition_fenced", partition=partition)
                telemetry.error("partition_fenced")
                await self.release([partition])
