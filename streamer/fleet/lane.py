"""`Lane`: what an instance runs for one control-topic partition it owns.

A lane has a transactional sink of its own, `transactional_id = <prefix>-<partition>`: starting
it (`init_transactions`) fences whichever instance owned the partition before and settles the
transaction it left open, and only then are the partition's checkpoints loaded, so the new owner
resumes from exactly what was committed. A zombie that wakes up later is fenced at its next
commit (`ProducerFenced` / `InvalidProducerEpoch`): its sink fails, and the fleet drops the lane.
The sink never retries on a new producer (`recover=False`): that would fence the partition's next
owner and write on from this lane's stale checkpoints. Any failed write fails the lane, and the
fleet starts a fresh one (from the committed checkpoints) if the partition is still its own.
A session that ends is retired from the control topic once its finished checkpoint is committed.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from streamer.api import ApiClient
from streamer.fleet.control import Announcement, ControlTopic, partition_of
from streamer.follower import FollowerSettings
from streamer.kafka.config import KafkaSettings
from streamer.kafka.errors import SinkError, SinkFencedError
from streamer.kafka.settings import SinkSettings
from streamer.kafka.sink import KafkaSink
from streamer.supervisor import Supervisor

log = structlog.get_logger(__name__)


class Lane:
    """The sink and followers of one owned control partition. `stop` is safe twice."""

    def __init__(
        self,
        partition: int,
        partitions: int,
        *,
        client: ApiClient,
        control: ControlTopic,
        kafka: KafkaSettings,
        sink: SinkSettings,
        follower: FollowerSettings,
        ended_kept: int,
    ) -> None:
        self.partition = partition
        self._control = control
        transactional_id = f"{sink.transactional_id}-{partition}"
        self.sink = KafkaSink(
            kafka,
            sink.model_copy(update={"transactional_id": transactional_id}),
            keep=lambda session_id: partition_of(session_id, partitions) == partition,
            recover=False,
        )
        self.supervisor = Supervisor(
            client, self.sink, follower, ended_kept=ended_kept, on_ended=self._on_ended
        )
        self._retiring: set[asyncio.Task[None]] = set()
        self._stopped = False

    @property
    def failed(self) -> bool:
        """The sink stopped for good: fenced (another instance owns this partition now) or a
        write failed."""
        return self.sink.failure is not None

    @property
    def fenced(self) -> bool:
        """The sink was fenced: another instance started on this partition's transactional id."""
        return isinstance(self.sink.failure, SinkFencedError)

    async def start(self) -> None:
        """Fence the previous owner, load checkpoints, resume unfinished sessions."""
        await self.sink.start()
        checkpoints = await self.sink.checkpoints()
        unfinished = [sid for sid, checkpoint in checkpoints.items() if not checkpoint.finished]
        await self.supervisor.start(unfinished)
        log.info("lane_started", partition=self.partition, resumed=len(unfinished))

    def follow(self, announcement: Announcement) -> None:
        """Follow an announced session, or retire it if it has ended already."""
        if self._stopped or self.failed:
            return
        session_id = announcement.session_id
        agent_id, agent_model = announcement.agent_id, announcement.agent_model
        started = self.supervisor.follow(session_id, agent_id, agent_model)
        if not started and session_id in self.supervisor.ended:
            self._on_ended(session_id, self.supervisor.ended[session_id])

    def _on_ended(self, session_id: str, outcome: str) -> None:
        task = asyncio.create_task(self._retire(session_id), name=f"retire:{session_id}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, session_id: str) -> None:
        try:
            await self.sink.flush()  # the finished checkpoint is committed first
            await self._control.retire(session_id)
        except SinkError:
            return  # fenced or stopped: the next owner retires it
        except Exception as exc:  # noqa: BLE001 - a broker hiccup: the next owner retires it
            log.warning("session_retire_failed", session_id=session_id, error=type(exc).__name__)

    async def stop(self) -> None:
        """Stop the followers, commit (or abort) their last batch, close the producer."""
        if self._stopped:
            return
        self._stopped = True
        await self.supervisor.stop()
        if not self.failed:
            with contextlib.suppress(SinkError):
                await self.sink.flush()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await self.sink.stop()
        log.info("lane_stopped", partition=self.partition, failed=self.failed)
