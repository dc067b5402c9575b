"""Simulator → streamer → real Kafka → `streamer consume archive` processes → s3proxy table.

The table must hold exactly the ground truth's persisted events of the followed sessions, once
each, in per-session order — with two replicas in one group, one of them killed with SIGKILL
mid-run and started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from deltalake import DeltaTable

from simulator import Simulator, SimulatorConfig
from streamer.config import load_settings
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.service import Service
from tests.integration.consumers.archive.conftest import count, rows, wait_for
from tests.support.events import event, produce
from tests.support.flow import injecting
from tests.support.kafka import unique_name
from tests.support.s3 import LocalS3
from tests.support.truth import by_session, mismatch, truth_by_session
from tests.support.waiting import settled

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FOLLOW: dict[str, Any] = {
    "stream_read_timeout_secs": 3.0,
    "reconnect_initial_secs": 0.05,
    "reconnect_max_secs": 0.5,
    "discovery_interval_secs": 0.5,
    "http_port": 0,
    "api_key": "sk-test",
}


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator whose `coding` sessions do a few turns at a moderate pace."""
    async with Simulator(SimulatorConfig(scenario="coding", seed=12, speed=100.0)) as simulator:
        yield simulator


def archive_env(kafka: KafkaSettings, s3: LocalS3, uri: str) -> dict[str, str]:
    """The environment of a `streamer consume archive` process writing `uri` on s3proxy."""
    env = {**os.environ, **s3.env()}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
        KAFKA_EVENTS_TOPIC=kafka.events_topic,
        KAFKA_DEAD_LETTER_TOPIC=kafka.dead_letter_topic,
        ARCHIVE_URI=uri,
        ARCHIVE_FLUSH_MAX_AGE_SECS="1",
        ARCHIVE_FLUSH_MIN_INTERVAL_SECS="0.5",
        ARCHIVE_DRAIN_TIMEOUT_SECS="10",
    )
    return env


async def start_archiver(env: dict[str, str], group: str, log: Path) -> asyncio.subprocess.Process:
    """One replica: `streamer consume archive --group-id GROUP` (its output appended to `log`)."""
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "streamer",
            "consume",
            "archive",
            "--group-id",
            group,
            "--log-level",
            os.environ.get("ARCHIVE_TEST_LOG_LEVEL", "warning"),
            env=env,
            stdout=out,
            stderr=out,
        )


def table_by_session(uri: str, options: dict[str, str]) -> dict[str, list[str]]:
    """The table's event ids per session, in Kafka order (partition, offset)."""
    ordered = sorted(rows(uri, options), key=lambda r: (r["kafka_partition"], r["kafka_offset"]))
    return by_session((r["session_id"], r["event_id"]) for r in ordered)


async def test_two_replicas_and_a_kill_9(
    sim: Simulator, kafka_bootstrap: str, s3: LocalS3, tmp_path: Path
) -> None:
    """Two archivers, one SIGKILLed mid-flow and restarted: the table equals the truth, once."""
    session_ids = [await sim.create_session() for _ in range(5)]
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        events_topic=unique_name("events"),
        checkpoints_topic=unique_name("checkpoints"),
        dead_letter_topic=unique_name("dlq"),
    )
    sink = SinkSettings(
        transactional_id=unique_name("tx"),
        api_base_url=sim.base_url,
        events_partitions=4,
        checkpoints_partitions=2,
        commit_interval_ms=20,
    )
    uri, options = f"s3://{s3.bucket()}/archive", s3.storage_options()
    env, group, log = archive_env(kafka, s3, uri), unique_name("archive"), tmp_path / "archive.log"
    settings = load_settings(base_url=sim.base_url, session_ids=tuple(session_ids), **FOLLOW)
    async with Service(settings, kafka=kafka, sink_settings=sink):
        steady = await start_archiver(env, group, log)
        victim = await start_archiver(env, group, log)
        try:
            async with injecting(sim, session_ids, per_second=150):
                await wait_for(lambda: count(uri, options) >= 150)
                victim.send_signal(signal.SIGKILL)
                await victim.wait()
                await asyncio.sleep(1)
                victim = await start_archiver(env, group, log)
                await asyncio.sleep(3)
            truth = await settled(
                lambda: truth_by_session(sim.ground_truth(), session_ids),
                done=lambda t: len(t) == len(session_ids),
                stable_secs=2.0,
            )
            expected = sum(len(ids) for ids in truth.values())
            # On a timeout the assertion below still runs: it says what is missing or doubled.
            with contextlib.suppress(AssertionError):
                await wait_for(lambda: count(uri, options) >= expected, timeout_s=60)
                await asyncio.sleep(2)  # anything doubled would show up meanwhile
            archived = await asyncio.to_thread(table_by_session, uri, options)
        finally:
            for process in (steady, victim):
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
            codes = [await asyncio.wait_for(p.wait(), 60) for p in (steady, victim)]

    assert truth == archived, mismatch(truth, archived) + log.read_text()[-2000:]
    assert [0, 0] == codes, log.read_text()[-3000:]


def kill_between_files_and_commit(pid: int, table_dir: Path, secs: float) -> set[str]:
    """Blocking: SIGKILL `pid` the moment a data file is in the bucket that no commit adds yet
    (checked again with the process stopped, so a commit that landed meanwhile does not count).

    Returns the files so found (empty: no write was caught half done within `secs`; the
    process is killed then anyway).
    """
    added: set[str] = set()
    read_logs: set[str] = set()

    def read_log() -> None:
        for entry in sorted((table_dir / "_delta_log").glob("*.json")):
            if entry.name not in read_logs:
                with contextlib.suppress(orjson.JSONDecodeError):  # still being written
                    added.update(_added_files(entry))
                    read_logs.add(entry.name)

    deadline = time.monotonic() + secs
    found: set[str] = set()
    while time.monotonic() < deadline and not found:
        on_disk = {str(p.relative_to(table_dir)) for p in table_dir.glob("date=*/*.parquet")}
        if on_disk - added and (table_dir / "_delta_log").is_dir():
            read_log()
            if on_disk - added:  # stopped, then looked at again: the commit may have landed
                os.kill(pid, signal.SIGSTOP)
                time.sleep(0.05)
                read_log()
                found = on_disk - added
                if not found:
                    os.kill(pid, signal.SIGCONT)
        time.sleep(0.0005)
    os.kill(pid, signal.SIGKILL)
    return found


def _added_files(entry: Path) -> set[str]:
    lines = entry.read_text().splitlines()
    actions = [orjson.loads(line) for line in lines if line.strip()]
    return {urllib.parse.unquote(a["add"]["path"]) for a in actions if "add" in a}


async def test_kill_9_mid_write(kafka_bootstrap: str, s3: LocalS3, tmp_path: Path) -> None:
    """An archiver is SIGKILLed while a write is half done (its data files are in the bucket,
    its commit is not), then restarted: every record once; the cut write's files are not in
    the table."""
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        events_topic=unique_name("events"),
        dead_letter_topic=unique_name("dlq"),
    )
    events = [(f"sesn_{i % 40}", event("agent.message", n=i)) for i in range(6000)]
    await produce(kafka_bootstrap, kafka.events_topic, events[:1000])
    bucket = s3.bucket()
    uri, options = f"s3://{bucket}/archive", s3.storage_options()
    table_dir = s3.data_dir / "buckets" / bucket / "archive"
    log, group = tmp_path / "archive.log", unique_name("archive")
    env = {
        **archive_env(kafka, s3, uri),
        "ARCHIVE_FLUSH_MAX_AGE_SECS": "0.2",
        "ARCHIVE_FLUSH_MIN_INTERVAL_SECS": "0",
    }
    first = await start_archiver(env, group, log)
    watch = asyncio.create_task(
        asyncio.to_thread(kill_between_files_and_commit, first.pid, table_dir, 40.0)
    )
    sent = 1000
    while not watch.done() and sent < len(events):  # a steady flow: small writes back to back
        await produce(kafka_bootstrap, kafka.events_topic, events[sent : sent + 50])
        sent += 50
        await asyncio.sleep(0.25)
    cut = await watch
    await first.wait()
    await produce(kafka_bootstrap, kafka.events_topic, events[sent:])
    second = await start_archiver(env, group, log)
    try:
        await wait_for(lambda: count(uri, options) >= len(events), timeout_s=60)
        await asyncio.sleep(2)
    finally:
        second.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(second.wait(), 60)
    archived = Counter(r["event_id"] for r in rows(uri, options))
    table_files = DeltaTable(uri, storage_options=options).file_uris()
    in_table = {urllib.parse.unquote(p.split("/archive/", 1)[1]) for p in table_files}
    expected = {str(e["id"]): 1 for _, e in events}
    assert (expected, 0) == (dict(archived), code), log.read_text()[-2000:]
    assert cut, "the kill was meant to land between a write's data files and its commit"
    assert set() == cut & in_table
