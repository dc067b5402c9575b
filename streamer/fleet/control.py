"""The control topic `agents.sessions`: which sessions are to be followed, keyed by session id.

An announcement is a record whose key is the session id and whose value names the agent (JSON,
both fields optional); a tombstone (no value) retires the session once its owner has committed
its finished checkpoint. The topic is compacted, so it holds one record per session still to
follow, and a new owner of a partition reads it from the beginning to know its sessions.
Records are spread over partitions by Kafka's default (murmur2) partitioner of the key:
`partition_of` computes the same, so a lane can tell its sessions from the others'.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from streamer.kafka.admin import TopicSpec, ensure_topics
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings

log = structlog.get_logger(__name__)

_PARTITIONER = DefaultPartitioner()


@dataclass(frozen=True, slots=True)
class Announcement:
    """One session to follow (`agent_id` / `agent_model` when the announcer knew them)."""

    session_id: str
    agent_id: str | None = None
    agent_model: str | None = None


def encode(announcement: Announcement) -> bytes:
    """The record value of an announcement."""
    agent = {"agent_id": announcement.agent_id, "agent_model": announcement.agent_model}
    return orjson.dumps(agent)


def decode(key: bytes | None, value: bytes | None) -> Announcement | None:
    """The announcement a record carries; None for a tombstone or a malformed record."""
    if not key or value is None:
        return None
    try:
        body = orjson.loads(value)
        session_id = key.decode("utf-8")
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        log.warning("control_record_skipped", reason="malformed")
        return None
    if not isinstance(body, dict):
        return None
    agent_id, agent_model = body.get("agent_id"), body.get("agent_model")
    return Announcement(
        session_id,
        agent_id if isinstance(agent_id, str) else None,
        agent_model if isinstance(agent_model, str) else None,
    )


def partition_of(session_id: str, partitions: int) -> int:
    """The control partition of `session_id` (what the producer's default partitioner picks)."""
    every = list(range(partitions))
    return int(_PARTITIONER(session_id.encode("utf-8"), every, every))


async def ensure_control_topic(kafka: KafkaSettings, sink: SinkSettings, partitions: int) -> int:
    """Create the compacted control topic when missing; return its partition count."""
    spec = TopicSpec(
        kafka.sessions_topic,
        partitions,
        {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
    )
    topics = await ensure_topics(kafka, sink, [spec])
    return topics[kafka.sessions_topic].partitions


class ControlTopic:
    """Writes announcements and tombstones (idempotent producer, acks=all)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(**self._kafka.client_kwargs(), enable_idempotence=True)
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def announce(self, announcement: Announcement) -> None:
        """Ask the group to follow a session; returns once the broker has it."""
        await self._send(announcement.session_id, encode(announcement))
        log.info("session_announced", session_id=announcement.session_id)

    async def retire(self, session_id: str) -> None:
        """Tombstone a session whose finished checkpoint is committed."""
        await self._send(session_id, None)

    async def _send(self, session_id: str, value: bytes | None) -> None:
        if self._producer is None:
            raise RuntimeError("ControlTopic is not started")
        await self._producer.send_and_wait(
            self._kafka.sessions_topic, value, key=session_id.encode("utf-8")
        )
