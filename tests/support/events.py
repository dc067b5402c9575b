"""Producing session-event records the way the streamer does, for consumer tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer


def event(event_type: str, **fields: Any) -> dict[str, Any]:
    """An event with a fresh id and a processed_at, as the API would persist it."""
    return {
        "id": f"sevt_{uuid.uuid4().hex[:16]}",
        "type": event_type,
        "processed_at": "2026-04-07T04:27:40.101Z",
        **fields,
    }


async def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[str, dict[str, Any] | bytes]],
    partition: int | None = None,
) -> None:
    """Write (session_id, event) records with CloudEvents headers, in one transaction-free batch."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for session_id, value in records:
            raw = value if isinstance(value, bytes) else orjson.dumps(value)
            headers = [("ce_subject", session_id.encode())]
            if isinstance(value, dict):
                headers += [("ce_id", value["id"].encode()), ("ce_type", value["type"].encode())]
            await producer.send(
                topic, raw, key=session_id.encode(), headers=headers, partition=partition
            )
        await producer.flush()
    finally:
        await producer.stop()
