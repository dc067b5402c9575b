"""Who decided a session's approvals: the approval bot's audit records on `agents.approvals`.

The archive holds the `user.tool_confirmation`s, which the API's client sent; the bot's audit
trail (`consumers/approvals/audit.py`, one record per decision, key = session id) says whether
its policy (which rule), a person (`human:<name>` through its HTTP API), a timeout or someone
outside the bot decided. `streamer archive transcript --approvals` reads it (committed records
only, the whole topic: it is small) and names them.
"""

from __future__ import annotations

from typing import Any

import orjson

from consumers.archive.replay import topic_partitions
from streamer.kafka.config import KafkaSettings

_DECIDED = frozenset({"allow", "deny"})


async def session_decisions(kafka: KafkaSettings, session_id: str) -> dict[str, dict[str, Any]]:
    """tool_use_id -> the latest (non-shadow) allow/deny audit record of `session_id`."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415

    topic = kafka.approvals_topic
    partitions = await topic_partitions(kafka, topic)
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed")  # fmt: skip
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: dict[str, dict[str, Any]] = {}
        pending = {tp for tp, end in ends.items() if end > 0}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for message in (m for ms in batches.values() for m in ms):
                _keep(found, message, session_id)
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return found
    finally:
        await consumer.stop()


def _keep(found: dict[str, dict[str, Any]], message: Any, session_id: str) -> None:
    if message.key is None or message.key.decode("utf-8", "replace") != session_id:
        return
    try:
        record = orjson.loads(message.value or b"")
    except orjson.JSONDecodeError:
        return
    if (
        not isinstance(record, dict)
        or record.get("shadow")
        or record.get("decision") not in _DECIDED
    ):
        return
    found[str(record.get("tool_use_id"))] = record


def describe(record: dict[str, Any]) -> str:
    """Who decided, in words, from one audit record."""
    by = str(record.get("decided_by") or "")
    if by == "policy":
        rule = record.get("rule") or "default"
        return f"the approval bot's policy (rule {rule}, policy {record.get('policy_version')})"
    if by.startswith("human:"):
        return f"{by.removeprefix('human:')} (a person, through the approval bot)"
    if by == "timeout":
        return "the approval bot: no one decided in time (denied on timeout)"
    if by == "external":
        return "someone outside the approval bot"
    return f"the approval bot ({by or 'unknown'})"
