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

from consumers.archive.replay import committed_records, topic_partitions
from streamer.kafka.config import KafkaSettings

_DECIDED = frozenset({"allow", "deny"})


async def session_decisions(kafka: KafkaSettings, session_id: str) -> dict[str, dict[str, Any]]:
    """tool_use_id -> the latest (non-shadow) allow/deny audit record of `session_id`."""
    topic = kafka.approvals_topic
    found: dict[str, dict[str, Any]] = {}
    partitions = await topic_partitions(kafka, topic) or set()
    async for message in committed_records(kafka, topic, partitions):
        _keep(found, message, session_id)
    return found


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
