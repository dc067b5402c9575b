"""The state store on a real broker: replicas share it; terminal answers are sticky."""

from __future__ import annotations

import pytest

from consumers.approvals.model import ANSWERED, DECIDED, ESCALATED, Entry
from consumers.approvals.state import StateStore
from streamer.kafka.config import KafkaSettings
from tests.support.kafka import unique_name

pytestmark = pytest.mark.kafka


def entry(status: str) -> Entry:
    return Entry(tool_use_id="sevt_1", session_id="sesn_1", partition=0, tool="bash",
                 input_digest="sha256:x", input_preview="{}", status=status)  # fmt: skip


async def test_a_write_by_one_replica_is_seen_by_another(kafka_bootstrap: str) -> None:
    """After catch_up, a second store holds what the first one wrote."""
    kafka, topic = KafkaSettings(bootstrap_servers=kafka_bootstrap), unique_name("state")
    async with StateStore(kafka, topic) as first, StateStore(kafka, topic) as second:
        await first.put(entry(ESCALATED))
        await second.catch_up()
        assert entry(ESCALATED) == second.get("sevt_1")


async def test_a_terminal_entry_is_not_reopened_by_a_later_write(kafka_bootstrap: str) -> None:
    """A 'decided' written after 'answered' (a late reviewer) does not reopen the tool use."""
    kafka, topic = KafkaSettings(bootstrap_servers=kafka_bootstrap), unique_name("state")
    async with StateStore(kafka, topic) as first:
        await first.put(entry(ANSWERED))
        await first.put(entry(DECIDED))
        async with StateStore(kafka, topic) as restarted:
            assert (ANSWERED, ANSWERED) == (
                first.get("sevt_1").status,
                restarted.get("sevt_1").status,  # type: ignore[union-attr]
            )


async def test_a_forgotten_entry_is_gone_after_a_restart(kafka_bootstrap: str) -> None:
    """forget() writes a tombstone: neither this store nor a restarted one keeps the entry."""
    kafka, topic = KafkaSettings(bootstrap_servers=kafka_bootstrap), unique_name("state")
    async with StateStore(kafka, topic) as first:
        await first.put(entry(ANSWERED))
        await first.forget("sevt_1")
        async with StateStore(kafka, topic) as restarted:
            assert (None, None) == (first.get("sevt_1"), restarted.get("sevt_1"))
