"""The metrics consumer against a real broker: stored state, restarts, fencing, bad records."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import ProducerFenced

from consumers.metrics.config import MetricsSettings
from consumers.metrics.consumer import MetricsConsumer
from consumers.metrics.partitions import PartitionedAggregates
from consumers.metrics.store import StateStore
from consumers.runner import Runner
from consumers.settings import RunnerSettings
from streamer.kafka.config import KafkaSettings
from tests.support.events import event
from tests.support.kafka import unique_name
from tests.support.waiting import settled

pytestmark = pytest.mark.kafka

MODEL = "claude-sonnet-4-6"
FAST = RunnerSettings(poll_timeout_ms=100)


def metrics_settings(**extra: Any) -> MetricsSettings:
    return MetricsSettings(state_topic=unique_name("metrics-state"), flush_interval_ms=100,
                           **extra)  # fmt: skip


async def produce(kafka: KafkaSettings, records: list[tuple[str, bytes]], topic: str = "") -> None:
    """(session id, value) records with the streamer's model header, keyed by session."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for session_id, value in records:
            headers = [("ce_subject", session_id.encode()), ("ce_agentmodel", MODEL.encode())]
            await producer.send(topic or kafka.events_topic, value, key=session_id.encode(),
                                headers=headers)  # fmt: skip
        await producer.flush()
    finally:
        await producer.stop()


def span_end(input_tokens: int) -> bytes:
    usage = {"input_tokens": input_tokens, "output_tokens": 1}
    return orjson.dumps(event("span.model_request_end", model_request_start_id="x",
                              model_usage=usage))  # fmt: skip


@contextlib.asynccontextmanager
async def running(
    kafka: KafkaSettings, settings: MetricsSettings, group: str
) -> AsyncIterator[MetricsConsumer]:
    consumer = MetricsConsumer(settings)
    runner = Runner(consumer, kafka=kafka, settings=FAST, group_id=group)
    async with runner:
        task = asyncio.create_task(runner.run())
        try:
            yield consumer
        finally:
            runner.request_stop()
            await task


def exported(consumer: PartitionedAggregates, name: str) -> dict[tuple[str, ...], float]:
    """The counter `name` over the consumer's stored partitions, by label values."""
    merged: dict[tuple[str, ...], float] = {}
    for snapshot in consumer.exported.values():
        for key, value in snapshot.counters[name].items():
            merged[key] = merged.get(key, 0) + value
    return merged


def exported_total(consumer: MetricsConsumer, name: str) -> Callable[[], float]:
    def read() -> float:
        return sum(sum(s.counters[name].values()) for s in consumer.exported.values())

    return read


async def test_totals_survive_a_restart_without_double_counting(kafka: KafkaSettings) -> None:
    """Stored totals are loaded by the next run, which adds only the new records."""
    settings, group = metrics_settings(approvals=False), unique_name("metrics")
    sessions = [f"sesn_{i}" for i in range(9)]
    await produce(kafka, [(s, span_end(10)) for s in sessions])
    async with running(kafka, settings, group) as first:
        tokens = exported_total(first, "agents_model_tokens")
        before = await settled(tokens, done=lambda v: v >= 99)
    await produce(kafka, [(s, span_end(100)) for s in sessions])
    async with running(kafka, settings, group) as second:
        loaded = exported_total(second, "agents_model_tokens")()
        after = await settled(
            exported_total(second, "agents_model_tokens"), done=lambda v: v >= 1008
        )
    assert (99, 1008) == (before, after), loaded


async def test_record_that_is_not_an_event_is_a_problem_once(kafka: KafkaSettings) -> None:
    """A non-JSON record counts not_an_event once (also across a restart); the rest counts."""
    settings, group = metrics_settings(approvals=False), unique_name("metrics")
    await produce(kafka, [("sesn_1", b"not json"), ("sesn_1", span_end(5))])
    async with running(kafka, settings, group) as first:
        await settled(exported_total(first, "agents_model_tokens"), done=lambda v: v >= 6)
    async with running(kafka, settings, group) as second:
        problems = await settled(lambda: exported(second, "agents_metrics_problems"), done=bool)
        tokens = exported_total(second, "agents_model_tokens")()
    assert (1, 6) == (problems[("not_an_event",)], tokens)


async def test_a_new_claim_fences_the_previous_owner(kafka: KafkaSettings) -> None:
    """Once another store claimed a partition, the old owner's write fails: no zombie writes."""
    topic, group = unique_name("metrics-state"), unique_name("metrics")
    old = StateStore(kafka, topic, group_id=group, source_topic=kafka.events_topic)
    new = StateStore(kafka, topic, group_id=group, source_topic=kafka.events_topic)
    async with old, new:
        await old.claim(0)
        await old.write(0, b"old")
        assert b"old" == await new.claim(0)
        await new.write(0, b"new")
        with pytest.raises(ProducerFenced):
            await old.write(0, b"zombie")
        assert b"new" == await new._latest(0)


async def test_approval_decisions_from_the_audit_topic(kafka: KafkaSettings) -> None:
    """Answers on the approvals topic count by decision and decided_by, a rewrite only once."""
    settings, group = metrics_settings(), unique_name("metrics")

    def audit(tool_use_id: str, decided_by: str, decision: str = "allow",
              outcome: str = "answered") -> bytes:  # fmt: skip
        return orjson.dumps({"tool_use_id": tool_use_id, "session_id": "sesn_1",
                             "decision": decision, "decided_by": decided_by,
                             "outcome": outcome, "at": 1.0})  # fmt: skip

    records = [audit("a", "policy"), audit("a", "policy"), audit("b", "human:alice", "deny"),
               audit("c", "timeout", "deny"), audit("d", "external", outcome="answered_elsewhere"),
               audit("e", "policy", "ask", outcome="escalated"), b"{broken"]  # fmt: skip
    await produce(kafka, [("sesn_1", r) for r in records], topic=kafka.approvals_topic)
    async with running(kafka, settings, group) as consumer:
        assert consumer.audit is not None
        audit_consumer = consumer.audit
        decisions = await settled(
            lambda: exported(audit_consumer, "agents_approval_decisions"),
            done=lambda d: sum(d.values()) >= 4,
        )
        problems = exported(audit_consumer, "agents_metrics_problems")
    assert (
        {("allow", "policy"): 1, ("deny", "person"): 1, ("deny", "timeout"): 1,
         ("allow", "other_client"): 1},
        {("audit_duplicate",): 1, ("audit_record_invalid",): 1},
    ) == (decisions, problems)  # fmt: skip


async def test_stop_stores_what_was_counted(kafka: KafkaSettings) -> None:
    """With no periodic store due, a graceful stop still stores the counts with their offsets."""
    settings = metrics_settings(approvals=False).model_copy(update={"flush_interval_ms": 600_000})
    group = unique_name("metrics")
    await produce(kafka, [(f"sesn_{i}", span_end(10)) for i in range(9)])
    async with running(kafka, settings, group) as first:
        await settled(lambda: sum(s.next_offset or 0 for s in first.states.values()),
                      done=lambda n: n >= 9)  # fmt: skip
        exported_before_stop = exported_total(first, "agents_model_tokens")()
    async with running(kafka, settings, group) as second:
        loaded = await settled(
            exported_total(second, "agents_model_tokens"), done=lambda v: v >= 99, timeout_secs=30
        )
    assert (0, 99) == (exported_before_stop, loaded)
