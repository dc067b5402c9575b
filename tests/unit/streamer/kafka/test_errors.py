"""Kafka client errors map to the sink's hierarchy; the retry decision is `retriable`."""

from __future__ import annotations

from aiokafka import errors as kafka_errors

from streamer.kafka.errors import SinkFencedError, SinkTransientError, classify


def test_fenced_producer_is_fatal() -> None:
    """ProducerFenced means another instance owns the id: not retriable."""
    error = classify(kafka_errors.ProducerFenced())

    assert (SinkFencedError, False) == (type(error), error.retriable)


def test_connection_error_is_transient() -> None:
    """A lost connection is retried."""
    error = classify(kafka_errors.KafkaConnectionError())

    assert (SinkTransientError, True) == (type(error), error.retriable)


def test_timeout_is_transient() -> None:
    """A request timeout is retried."""
    assert classify(TimeoutError()).retriable
