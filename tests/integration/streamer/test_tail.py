"""`streamer tail` as a subprocess, reading what the real streamer wrote from the simulator.

A module-wide topic is filled once: the streamer follows three sessions of the simulator (two of
one agent, one of another) until the topic holds exactly the simulator's ground truth. Each test
then runs `python -m streamer tail` against it and reads its standard output.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from simulator import Simulator, SimulatorConfig
from streamer.config import load_settings
from streamer.kafka.config import KafkaSettings
from streamer.kafka.settings import SinkSettings
from streamer.service import Service
from streamer.tail.format import short_id
from tests.integration.streamer.conftest import truth
from tests.support.events import event, produce
from tests.support.kafka import unique_name
from tests.support.prometheus import free_port
from tests.support.truth import read_topic, topic_by_session
from tests.support.waiting import until

pytestmark = pytest.mark.asyncio(loop_scope="module")

TAIL_TIMEOUT_SECS = 60.0


@dataclass(frozen=True)
class Filled:
    """A topic the streamer wrote, and the ground truth it holds."""

    bootstrap: str
    topic: str
    sessions: dict[str, str]  # session id -> agent id
    events: dict[str, list[dict[str, Any]]]  # session id -> its persisted events, in order

    def ids(self, session_id: str) -> list[str]:
        return [e["event_id"] for e in self.events[session_id]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def filled(kafka_bootstrap: str) -> AsyncIterator[Filled]:
    """Three sessions streamed into a fresh topic; the simulator stops once they are there."""
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, events_topic=unique_name("events"),
        checkpoints_topic=unique_name("checkpoints"), dead_letter_topic=unique_name("dlq"),
    )  # fmt: skip
    config = SimulatorConfig(scenario="coding", seed=11, speed=200.0)
    async with Simulator(config) as sim:
        agents = {
            await sim.create_session(agent_id=a): a for a in ("agent_a", "agent_a", "agent_b")
        }
        settings = load_settings(
            base_url=sim.base_url, api_key="sk-test", session_ids=tuple(agents), http_port=0,
            stream_read_timeout_secs=3.0, reconnect_initial_secs=0.05,
        )  # fmt: skip
        sink = SinkSettings(transactional_id=unique_name("tx"), api_base_url=sim.base_url)
        async with Service(settings, kafka=kafka, sink_settings=sink):
            await _quiet(sim, list(agents))
            expected = truth(sim, list(agents))
            records = await read_topic(kafka_bootstrap, kafka.events_topic,
                                       expected=sum(map(len, expected.values())))  # fmt: skip
            assert topic_by_session(records) == expected
        events = {s: sim.ground_truth(s) for s in agents}
    yield Filled(kafka_bootstrap, kafka.events_topic, agents, events)


async def _quiet(sim: Simulator, session_ids: list[str]) -> None:
    """Until no session has persisted anything new for two seconds (idle or waiting)."""
    last: list[int] = []

    def settled() -> bool:
        now = [len(sim.ground_truth(s)) for s in session_ids]
        unchanged = now == last
        last[:] = now
        return unchanged and all(now)

    await until(settled, interval_secs=2.0, timeout_secs=120.0)


async def tail(filled: Filled, *args: str, topic: str | None = None,
               env: dict[str, str] | None = None) -> tuple[int, str, str]:  # fmt: skip
    """Run `streamer tail ARGS` to its end; its exit code, standard output and error."""
    child = await _spawn(filled, *args, topic=topic, env=env)
    try:
        out, err = await asyncio.wait_for(child.communicate(), TAIL_TIMEOUT_SECS)
    finally:
        if child.returncode is None:  # timed out: never leave a reader running
            child.kill()
            await child.wait()
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


async def _spawn(filled: Filled, *args: str, topic: str | None = None,
                 env: dict[str, str] | None = None) -> asyncio.subprocess.Process:  # fmt: skip
    environment = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": filled.bootstrap,
                   "KAFKA_EVENTS_TOPIC": topic or filled.topic, **(env or {})}  # fmt: skip
    environment.pop("NO_COLOR", None)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer", "tail", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=environment,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _running(
    filled: Filled, *args: str, topic: str | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`streamer tail ARGS` while the block runs; killed at its end if it is still running."""
    child = await _spawn(filled, *args, topic=topic)
    try:
        yield child
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


def columns(line: str) -> tuple[str, str]:
    """(short session id, type) of a plain line: `HH:MM:SS.mmm  session  type  summary`."""
    _, session, kind, *_ = [*line.split(None, 3), ""]
    return session, kind


async def test_no_follow_from_the_beginning_prints_each_event_once_and_exits_0(
    filled: Filled,
) -> None:
    """One line per event, each session's in order, then exit 0 with nothing on stderr."""
    code, out, err = await tail(filled, "--from-beginning", "--no-follow")
    seen: dict[str, list[str]] = {}
    for line in out.splitlines():
        session, kind = columns(line)
        seen.setdefault(session, []).append(kind)
    expected = {short_id(s): [e["type"] for e in events] for s, events in filled.events.items()}

    assert (0, "", expected) == (code, err, seen)


async def test_json_prints_each_value_as_the_api_sent_it(filled: Filled) -> None:
    """`--json`: one JSON value per line, the events' ids in the topic's per-session order."""
    code, out, _ = await tail(filled, "--from-beginning", "--no-follow", "--json")
    values = [orjson.loads(line) for line in out.splitlines()]
    by_session: dict[str, list[str]] = {s: [] for s in filled.sessions}
    for value in values:
        session = next(s for s in filled.sessions if value["id"] in filled.ids(s))
        by_session[session].append(value["id"])

    assert (0, {s: filled.ids(s) for s in filled.sessions}) == (code, by_session)


async def test_filters_by_session_type_and_agent(filled: Filled) -> None:
    """`--session` (short id), `--type` globs and `--agent` pick the matching events only."""
    first, second, third = filled.sessions
    by_session = await tail(filled, "--from-beginning", "--no-follow", "--json",
                            "--session", short_id(first), "--session", third)  # fmt: skip
    by_type = await tail(filled, "--from-beginning", "--no-follow", "--json", "--type", "user.*",
                         "--type", "session.status_*")  # fmt: skip
    by_agent = await tail(filled, "--from-beginning", "--no-follow", "--json",
                          "--agent", "agent_b")  # fmt: skip

    def ids(result: tuple[int, str, str]) -> list[str]:
        return [orjson.loads(line)["id"] for line in result[1].splitlines()]

    def kinds(prefixes: tuple[str, ...]) -> set[str]:
        return {e["event_id"] for s in filled.sessions for e in filled.events[s]
                if e["type"].startswith(prefixes)}  # fmt: skip

    wanted = set(filled.ids(first) + filled.ids(third))
    assert (wanted, kinds(("user.", "session.status_")), filled.ids(third)) == (
        set(ids(by_session)), set(ids(by_type)), ids(by_agent),
    )  # fmt: skip
    assert set(filled.ids(second)).isdisjoint(ids(by_session))


async def test_since_starts_at_the_events_written_then(filled: Filled) -> None:
    """`--since 1d` holds everything written today; an ISO time in the future holds nothing."""
    day = await tail(filled, "--since", "1d", "--no-follow", "--json")
    future = await tail(filled, "--since", "2999-01-01T00:00:00Z", "--no-follow")
    total = sum(len(events) for events in filled.events.values())

    assert ((0, total), (0, "")) == ((day[0], len(day[1].splitlines())), future[:2])


async def test_follow_shows_new_events_live_and_ctrl_c_exits_130(filled: Filled) -> None:
    """Started at the end, it prints only what is written afterwards, a malformed record as a
    line of its own, and exits 130 on SIGINT, 143 on SIGTERM, without a traceback."""
    topic = unique_name("live")
    await _create(filled.bootstrap, topic)
    results = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        async with _running(filled, topic=topic) as child:
            await _synced(child, filled.bootstrap, topic)
            text = f"hello {signum}\nmore"
            fresh = event("agent.message", content=[{"type": "text", "text": text}])
            await produce(
                filled.bootstrap, topic, [("sesn_live0001", fresh), ("sesn_live0001", b"{")]
            )
            assert child.stdout is not None
            lines = [await asyncio.wait_for(child.stdout.readline(), TAIL_TIMEOUT_SECS)
                     for _ in range(2)]  # fmt: skip
            child.send_signal(signum)
            _, err = await asyncio.wait_for(child.communicate(), TAIL_TIMEOUT_SECS)
        shown = [line.decode().rstrip("\n").split(None, 3)[1:] for line in lines]
        malformed = shown[1][2].startswith("malformed record")
        results.append((child.returncode, shown[0], shown[1][:2], malformed,
                        "Traceback" in err.decode()))  # fmt: skip

    assert [
        (130, ["live0001", "agent.message", f"hello {signal.SIGINT} …"], ["live0001", "?"], True,
         False),
        (143, ["live0001", "agent.message", f"hello {signal.SIGTERM} …"], ["live0001", "?"], True,
         False),
    ] == results  # fmt: skip


async def test_uncommitted_and_aborted_transactions_are_not_shown(filled: Filled) -> None:
    """read_committed: an aborted transaction's event never shows; a committed one does."""
    topic = unique_name("txn")
    await _create(filled.bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=filled.bootstrap,
                                transactional_id=unique_name("tx"))  # fmt: skip
    await producer.start()
    try:
        aborted, committed = event("agent.message"), event("agent.message")
        for value, commit in ((aborted, False), (committed, True)):
            await producer.begin_transaction()
            await producer.send_and_wait(topic, orjson.dumps(value), key=b"sesn_t")
            await (producer.commit_transaction() if commit else producer.abort_transaction())
    finally:
        await producer.stop()
    code, out, _ = await tail(filled, "--from-beginning", "--no-follow", "--json", topic=topic)

    assert (0, [committed["id"]]) == (code, [orjson.loads(line)["id"] for line in out.splitlines()])


async def test_it_joins_no_consumer_group(filled: Filled) -> None:
    """After a read, no consumer group holds offsets of the topic: nothing was committed."""
    code, _, _ = await tail(filled, "--from-beginning", "--no-follow")
    holding = await _offsets_on(filled.bootstrap, filled.topic)

    assert (0, set()) == (code, holding)


async def test_a_closed_pipe_ends_it_quietly(filled: Filled) -> None:
    """Whoever reads the output goes away (`| head` had its lines) before it writes: exit 0,
    nothing on stderr (no BrokenPipeError traceback)."""
    read, write = os.pipe()
    os.close(read)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer", "tail", "--from-beginning", "--no-follow", stdout=write,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": filled.bootstrap,
             "KAFKA_EVENTS_TOPIC": filled.topic},
    )  # fmt: skip
    os.close(write)
    _, err = await asyncio.wait_for(child.communicate(), TAIL_TIMEOUT_SECS)

    assert (0, "") == (child.returncode, err.decode())


async def test_a_missing_topic_and_an_unreachable_broker_are_one_line_and_exit_1(
    filled: Filled,
) -> None:
    """No topic (with --no-follow): exit 1, one line naming it, and the topic is not created.
    No broker: exit 1, one line naming the address. Never a traceback."""
    missing = unique_name("missing")
    no_topic = await tail(filled, "--no-follow", topic=missing)
    dead = f"127.0.0.1:{free_port()}"
    no_broker = await tail(filled, "--no-follow", env={"KAFKA_BOOTSTRAP_SERVERS": dead})
    admin = AIOKafkaAdminClient(bootstrap_servers=filled.bootstrap)
    await admin.start()
    try:
        created = missing in await admin.list_topics()
    finally:
        await admin.close()

    assert [(1, "", 1, True), (1, "", 1, True), False] == [
        (code, out, len(err.splitlines()), named in err)
        for (code, out, err), named in ((no_topic, missing), (no_broker, dead))
    ] + [created]


async def _create(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()


async def _synced(child: asyncio.subprocess.Process, bootstrap: str, topic: str) -> None:
    """Until the child shows what is written now: it starts at the end offsets it finds, so a
    record written before it sought would never show. Pings are written one a second until the
    latest one's line arrives; the lines of earlier pings are passed over."""
    assert child.stdout is not None
    for n in range(int(TAIL_TIMEOUT_SECS)):
        ping = event("agent.message", content=[{"type": "text", "text": f"ping {n}"}])
        await produce(bootstrap, topic, [("sesn_ping", ping)])
        try:
            while (
                f"ping {n}" not in (await asyncio.wait_for(child.stdout.readline(), 1.0)).decode()
            ):
                pass
        except TimeoutError:
            continue
        return
    raise AssertionError("streamer tail never showed a record written after it started")


async def _offsets_on(bootstrap: str, topic: str) -> set[str]:
    """The consumer groups holding committed offsets of `topic`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = [str(group[0]) for group in await admin.list_consumer_groups()]
        holding = set()
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            if any(tp.topic == topic for tp in offsets):
                holding.add(group)
        return holding
    finally:
        await admin.close()
