"""Cluster chores at start: create the sink's topics, read their limits, load checkpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streamer.events import Checkpoint
from streamer.kafka.config import KafkaSettings
from streamer.kafka.errors import SinkError
from streamer.kafka.metrics import ERRORS
from streamer.kafka.offsets import log_end_offsets
from streamer.kafka.records import decode_checkpoint
from streamer.kafka.settings import SinkSettings

log = structlog.get_logger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_MAX_MESSAGE_BYTES = "max.message.bytes"


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """What the sink needs to know of an existing topic."""

    partitions: int
    max_message_bytes: int


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic the sink writes to and how to create it when missing."""

    name: str
    partitions: int
    configs: dict[str, str]


def topic_specs(kafka: KafkaSettings, settings: SinkSettings) -> list[TopicSpec]:
    """The topics this sink needs, with their creation settings."""
    specs = [
        TopicSpec(kafka.events_topic, settings.events_partitions, {}),
        TopicSpec(
            kafka.checkpoints_topic,
            settings.checkpoints_partitions,
            # Compacted, but a checkpoint stays readable for an hour even once superseded: the
            # sink reads a batch's checkpoint record back to confirm its commit.
            {"cleanup.policy": "compact", "min.compaction.lag.ms": "3600000"},
        ),
        TopicSpec(
            kafka.dead_letter_topic,
            1,
            {_MAX_MESSAGE_BYTES: str(settings.dead_letter_max_message_bytes)},
        ),
    ]
    if settings.deltas_enabled:
        # Previews are worthless after a while: keep an hour.
        specs.append(
            TopicSpec(kafka.deltas_topic, settings.deltas_partitions, {"retention.ms": "3600000"})
        )
    return specs


async def ensure_topics(
    kafka: KafkaSettings, settings: SinkSettings, specs: Iterable[TopicSpec]
) -> dict[str, TopicInfo]:
    """Create the missing topics; return every topic's partition count and message limit."""
    specs = list(specs)
    admin = AIOKafkaAdminClient(
        **kafka.client_kwargs(), request_timeout_ms=settings.request_timeout_ms
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            await _create(admin, missing, settings.replication_factor)
        return await _describe(admin, [s.name for s in specs], settings.request_timeout_ms / 1000)
    finally:
        await admin.close()


async def _describe(
    admin: AIOKafkaAdminClient, names: list[str], timeout_s: float
) -> dict[str, TopicInfo]:
    # Topics created a moment ago take a little while to be describable everywhere.
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                limits = await _max_message_bytes(admin, names)
            except SinkError:
                await asyncio.sleep(0.2)
                continue
            described = await admin.describe_topics(names)
            counts = {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
            if all(counts.get(n) for n in names):
                return {n: TopicInfo(counts[n], limits[n]) for n in names}
            await asyncio.sleep(0.2)


async def _create(admin: AIOKafkaAdminClient, specs: list[TopicSpec], replication: int) -> None:
    new = [NewTopic(s.name, s.partitions, replication, topic_configs=s.configs) for s in specs]
    response = (await admin.create_topics(new)).to_object()
    for result in response["topic_errors"]:
        if result["error_code"] not in (0, _TOPIC_ALREADY_EXISTS):
            raise SinkError(f"cannot create topic {result['topic']}: {result['error_message']}")
        if result["error_code"] == 0:
            log.info("topic_created", topic=result["topic"])


async def _max_message_bytes(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, name, {_MAX_MESSAGE_BYTES: None}) for name in names
    ]
    limits: dict[str, int] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            if resource["error_code"] != 0:
                raise SinkError(f"cannot describe topic {resource['resource_name']}")
            for entry in resource["config_entries"]:
                if entry["config_names"] == _MAX_MESSAGE_BYTES:
                    limits[resource["resource_name"]] = int(entry["config_value"])
    return limits


async def load_checkpoints(
    kafka: KafkaSettings, topic: str, partitions: int, timeout_s: float = 60.0
) -> dict[str, Checkpoint]:
    """Read the compacted checkpoints topic (read_committed) up to its log-end offsets, taken
    after the caller's producer claimed its transactional id; the last record per session wins.
    Malformed records are logged, counted and skipped."""
    consumer = AIOKafkaConsumer(
        **kafka.client_kwargs(),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    try:  # started inside: a cancelled start still closes the consumer
        await consumer.start()
        async with asyncio.timeout(timeout_s):
            assigned = [TopicPartition(topic, n) for n in range(partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            return await _read_to_end(kafka, consumer, assigned)
    finally:
        await consumer.stop()


async def _read_to_end(
    kafka: KafkaSettings, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> dict[str, Checkpoint]:
    ends = await log_end_offsets(kafka, partitions)
    checkpoints: dict[str, Checkpoint] = {}
    pending = {tp for tp in partitions if ends[tp] > 0}
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=500)
        for messages in batches.values():
            for message in messages:
                _absorb(checkpoints, message.key, message.value)
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
    return checkpoints


def _absorb(checkpoints: dict[str, Checkpoint], key: bytes | None, value: bytes | None) -> None:
    if value is None:  # a tombstone: the session's checkpoint was deleted
        if key is not None:
            checkpoints.pop(key.decode("utf-8", "replace"), None)
        return
    try:
        checkpoint = decode_checkpoint(value)
    except (ValueError, TypeError) as exc:
        ERRORS.labels(reason="bad_checkpoint").inc()
        log.warning("checkpoint_skipped", reason="bad_checkpoint", error=str(exc))
        return
    checkpoints[checkpoint.session_id] = checkpoint
