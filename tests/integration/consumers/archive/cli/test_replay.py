"""`streamer archive replay`: archived events back onto a fresh topic, equal to the originals."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from consumers.base import EventRecord
from streamer.cli import main
from tests.support.archive import Archived, read_records
from tests.support.kafka import unique_name

pytestmark = pytest.mark.kafka


def as_written(records: list[EventRecord]) -> dict[str, list[tuple[bytes, dict[str, bytes]]]]:
    """Per session, in order: each record's value and headers (the key is the session)."""
    grouped: dict[str, list[tuple[bytes, dict[str, bytes]]]] = {}
    for r in records:
        grouped.setdefault(r.session_id, []).append((r.raw, r.headers))
    return grouped


def difference(want: list[EventRecord], got: list[EventRecord]) -> str:
    """The first record that differs, per session (for a readable failure)."""
    wanted, actual = as_written(want), as_written(got)
    for session, records in wanted.items():
        other = actual.get(session, [])
        for n, (a, b) in enumerate(zip(records, other, strict=False)):
            if a != b:
                return f"{session} #{n}: {a!r} != {b!r}"
        if len(records) != len(other):
            return f"{session}: {len(records)} records != {len(other)}"
    return f"sessions {sorted(wanted)} != {sorted(actual)}"


def replay(capsys: pytest.CaptureFixture[str], archived: Archived, *argv: str) -> dict[str, int]:
    code = main(["archive", "replay", "--uri", archived.uri, "--source", archived.source, *argv])
    out = capsys.readouterr().out
    assert 0 == code, out
    summary: dict[str, int] = orjson.loads(out)
    return summary


def topic(bootstrap: str, name: str, expected: int) -> list[EventRecord]:
    """What the topic holds (waiting a little past `expected`, so that extras show)."""
    return asyncio.run(read_records(bootstrap, name, expected + 1, timeout_secs=3))


@pytest.fixture
def env(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    return kafka_bootstrap


def test_replay_equals_the_original_records(
    archived: Archived, env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every archived event, replayed into a fresh topic: same key, value and headers, same
    per-session order; a rerun writes nothing."""
    target = unique_name("replayed")
    first = replay(capsys, archived, "--topic", target, "--batch-events", "100")
    again = replay(capsys, archived, "--topic", target)
    replayed = topic(env, target, len(archived.records))

    assert as_written(archived.records) == as_written(replayed), difference(
        archived.records, replayed
    )
    total = len(archived.records)
    assert (total, total, 0) == (first["written"], again["already_present"], again["written"])
    assert first["transactions"] == -(-total // 100)


def test_a_range_replays_only_its_events_once(
    archived: Archived, env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--session S --since T --until U`: exactly S's events in [T, U), in order, and once."""
    session = archived.failed_session
    own = [r for r in archived.records if r.session_id == session]
    since, until = (
        own[len(own) // 4].data["processed_at"],
        own[3 * len(own) // 4].data["processed_at"],
    )
    expected = [r for r in own if since <= r.data["processed_at"] < until]
    argv = ("--topic", unique_name("range"), "--session", session, "--since", since,
            "--until", until)  # fmt: skip
    first = replay(capsys, archived, *argv)
    again = replay(capsys, archived, *argv)
    replayed = topic(env, argv[1], len(expected))

    assert as_written(expected) == as_written(replayed)
    assert (len(expected), 0) == (first["written"], again["written"])


def test_a_rerun_writes_only_what_the_topic_lacks(
    archived: Archived, env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A topic already holding each session's earlier events (as after a replay that stopped
    part-way) gets the rest, in order: per session the topic equals the original records."""
    target = unique_name("partial")
    stamps = sorted(r.data["processed_at"] for r in archived.records)
    middle = stamps[len(stamps) // 2]
    part = replay(capsys, archived, "--topic", target, "--until", middle)
    rest = replay(capsys, archived, "--topic", target)
    replayed = topic(env, target, len(archived.records))

    assert as_written(archived.records) == as_written(replayed), difference(
        archived.records, replayed
    )
    assert (len(archived.records), part["written"]) == (
        part["written"] + rest["written"],
        rest["already_present"],
    )
