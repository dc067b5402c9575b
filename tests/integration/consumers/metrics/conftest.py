"""Fixtures of the metrics consumer's integration tests."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamer.kafka.config import KafkaSettings
from tests.support.kafka import unique_name


@pytest.fixture
async def kafka(kafka_bootstrap: str) -> KafkaSettings:
    """Unique topics (events with 3 partitions) for one test."""
    settings = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        events_topic=unique_name("events"),
        approvals_topic=unique_name("approvals"),
        dead_letter_topic=unique_name("dlq"),
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(settings.events_topic, 3, 1),
                                   NewTopic(settings.approvals_topic, 2, 1)])  # fmt: skip
    finally:
        await admin.close()
    return settings
