"""The archive commands on `s3://` (a real S3-compatible server, s3proxy, on loopback)."""

from __future__ import annotations

import orjson
import pytest

from consumers.archive.query import run_query
from streamer.cli import main
from tests.integration.consumers.archive.cli.test_queries import doc_query
from tests.support.archive import Archived, write_table
from tests.support.s3 import LocalS3

pytestmark = pytest.mark.kafka


def test_query_compact_forget_and_transcript_on_s3(
    archived: Archived, s3: LocalS3, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """With only the AWS environment set, every command reads and changes the table on S3 as
    it does on disk."""
    uri = f"s3://{s3.bucket()}/archive"
    write_table(uri, archived.records, 4, s3.storage_options())
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    sql = doc_query("Tokens per agent per day")

    def cli(*argv: str) -> str:
        assert 0 == main(["archive", *argv, "--uri", uri])
        return capsys.readouterr().out

    local = run_query(archived.uri, sql).rows
    before = orjson.loads(cli("query", sql, "--format", "json"))
    compacted = orjson.loads(cli("compact"))
    after = orjson.loads(cli("query", sql, "--format", "json"))
    forgotten = orjson.loads(cli("forget", archived.hostile_session))
    left = orjson.loads(cli("query", "SELECT count(*) AS n FROM events", "--format", "json"))
    transcript = cli("transcript", archived.failed_session, "--format", "jsonl")
    session = [r for r in archived.records if r.session_id == archived.hostile_session]

    assert len(local) == len(before)
    assert before == after
    assert [int(v) for v in local[0][2:]] == list(before[0].values())[2:]
    assert compacted["numFilesRemoved"] > compacted["numFilesAdded"] > 0
    assert (len(session), len(archived.records) - len(session)) == (
        forgotten["events_deleted"],
        left[0]["n"],
    )
    assert transcript.splitlines()[-1].startswith('{"kind":"totals"')
