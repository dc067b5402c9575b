"""Fixtures shared by every test: a real Kafka broker and unique names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kafka import LocalKafka, unique_name
from tests.support.simulator import http, sdk, simulator

__all__ = ["http", "sdk", "simulator"]  # fixtures re-exported for every test


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`KAFKA_BOOTSTRAP_SERVERS` when set, else a broker started for this test run."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    broker = LocalKafka(Path(tmp_path_factory.mktemp("kafka")))
    try:
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture
def topic() -> str:
    """A fresh topic name for one test (auto-created by the broker on first use)."""
    return unique_name("test-topic")


@pytest.fixture
def group_id() -> str:
    """A fresh consumer group id for one test."""
    return unique_name("test-group")
