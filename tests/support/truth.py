"""Compare what reached Kafka with the simulator's ground truth.

`read_topic` reads a topic from the start as a `read_committed` consumer until it has at least
`expected` records and then nothing new arrives for a quiet period (so extras are caught too).
`by_session` groups (session id, event id) pairs, keeping order: the check of the issue is that
each followed session's events on the topic equal the ground truth's persisted events, each once,
in order. `settled_truth` waits for the simulator's sessions to go quiet and `events_on_topic`
reads the topic until it holds at least as many events as that truth, so a test compares the two.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer

from simulator import Simulator
from tests.support.kafka import unique_name
from tests.support.waiting import settled


@dataclass(frozen=True, slots=True)
class Record:
    """One record of the events topic as a subscriber sees it."""

    key: str
    value: bytes
    headers: dict[str, bytes]

    @property
    def event_id(self) -> str:
        return self.headers.get("ce_id", b"").decode()


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    expected: int,
    timeout_secs: float = 120.0,
    quiet_secs: float = 2.0,
) -> list[Record]:
    """Every committed record of `topic` (all partitions), once `expected` are there."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=unique_name("truth"),
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Record] = []
    try:
        deadline = time.monotonic() + timeout_secs
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            fresh = [m for msgs in batches.values() for m in msgs]
            if fresh:
                quiet_since = time.monotonic()
            records += [_record(m) for m in fresh]
            if len(records) >= expected and time.monotonic() - quiet_since >= quiet_secs:
                break
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return records


def _record(message: Any) -> Record:
    headers = {k: bytes(v) for k, v in (message.headers or ())}
    return Record(message.key.decode(), bytes(message.value), headers)


def by_session(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Group (session id, event id) pairs by session, keeping their order."""
    grouped: dict[str, list[str]] = {}
    for session_id, event_id in pairs:
        grouped.setdefault(session_id, []).append(event_id)
    return grouped


def topic_by_session(records: Iterable[Record]) -> dict[str, list[str]]:
    """The event ids on the topic per session, in topic (partition) order."""
    return by_session((r.key, r.event_id) for r in records)


def truth_by_session(
    truth: Iterable[Mapping[str, Any]], sessions: Iterable[str] | None = None
) -> dict[str, list[str]]:
    """The ground truth's persisted event ids per session (optionally only `sessions`)."""
    wanted = None if sessions is None else set(sessions)
    return by_session(
        (t["session_id"], t["event_id"])
        for t in truth
        if wanted is None or t["session_id"] in wanted
    )


async def settled_truth(
    sim: Simulator, session_ids: Iterable[str], stable_secs: float = 2.0
) -> dict[str, list[str]]:
    """The ground truth of `session_ids` once every one has events and nothing changed for
    `stable_secs` (returned either way: the comparison shows what differs)."""
    wanted = list(session_ids)
    return await settled(
        lambda: truth_by_session(sim.ground_truth(), wanted),
        done=lambda t: len(t) == len(set(wanted)),
        stable_secs=stable_secs,
    )


async def events_on_topic(
    bootstrap: str, topic: str, truth: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    """The events topic per session, read (`read_committed`) until it holds at least as many
    events as `truth` and then nothing new arrives."""
    expected = sum(len(ids) for ids in truth.values())
    return topic_by_session(await read_topic(bootstrap, topic, expected=expected))


def mismatch(truth: Mapping[str, list[str]], on_topic: Mapping[str, list[str]]) -> str:
    """A short account of how the topic differs from the truth: missing, doubled, reordered."""
    lines = []
    for session_id in sorted(set(truth) | set(on_topic)):
        want, got = truth.get(session_id, []), on_topic.get(session_id, [])
        if want == got:
            continue
        missing = [i for i in want if i not in set(got)]
        doubled = sorted({i for i in got if got.count(i) > 1})
        extra = [i for i in got if i not in set(want)]
        lines.append(
            f"{session_id}: want {len(want)} got {len(got)}; missing {len(missing)} "
            f"(first {missing[:3]}), doubled {len(doubled)}, extra {len(extra)}, "
            f"same set in other order: {sorted(want) == sorted(got)}"
        )
    return "\n".join(lines)
