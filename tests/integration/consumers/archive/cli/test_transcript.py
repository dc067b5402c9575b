"""`streamer archive transcript`: a session's archived events as a person reads them."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

import orjson
import pytest

from consumers.base import EventRecord
from streamer.cli import main
from tests.support.archive import HOSTILE_INPUT, Archived

pytestmark = pytest.mark.kafka

_USES = ("agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use")
_TOKENS = ("input_tokens", "output_tokens", "cache_read_input_tokens",
           "cache_creation_input_tokens")  # fmt: skip


def transcript(capsys: pytest.CaptureFixture[str], archived: Archived, fmt: str) -> str:
    session = archived.hostile_session
    assert 0 == main(["archive", "transcript", session, "--uri", archived.uri, "--format", fmt])
    return capsys.readouterr().out


def own(archived: Archived) -> list[EventRecord]:
    return [r for r in archived.records if r.session_id == archived.hostile_session]


def test_jsonl_has_every_message_tool_call_and_the_totals(
    archived: Archived, capsys: pytest.CaptureFixture[str]
) -> None:
    """Messages and tool calls in order, with inputs, approvals and results; token totals."""
    lines = [orjson.loads(line) for line in transcript(capsys, archived, "jsonl").splitlines()]
    events = own(archived)
    uses = [r for r in events if r.type in _USES]
    confirmations = Counter(r.data["result"] for r in events if r.type == "user.tool_confirmation")
    policy = Counter(r.data["evaluated_permission"] for r in uses
                     if r.data.get("evaluated_permission") in ("allow", "deny"))  # fmt: skip
    tokens = Counter()
    for r in events:
        if r.type == "span.model_request_end":
            tokens.update({k: r.data["model_usage"][k] for k in _TOKENS})
    messages = [r.event_id for r in events if r.type in ("user.message", "agent.message")]
    calls = [e for e in lines if e["kind"] == "tool_call"]
    totals = lines[-1]

    assert [(r.event_id, r.data.get("input")) for r in uses] == [
        (c["event_id"], c["tool_input"]) for c in calls
    ]
    assert messages == [e["event_id"] for e in lines if e["kind"].endswith("_message")]
    assert (dict(tokens), dict(confirmations + policy)) == (totals["tokens"], totals["approvals"])
    assert all(c["result"] is not None for c in calls if c["event_id"] != uses[0].event_id)
    assert totals["cost"].endswith(" USD")


def test_html_escapes_attacker_controlled_input(
    archived: Archived, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tool input holding markup shows as text: no element of it reaches the page."""

    class Page(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []
            self.text: list[str] = []

        def handle_starttag(self, tag: str, attrs: object) -> None:
            self.tags.append(tag)

        def handle_data(self, data: str) -> None:
            self.text.append(data)

    page = Page()
    page.feed(transcript(capsys, archived, "html"))

    assert "script" not in page.tags
    assert HOSTILE_INPUT["command"] in "".join(page.text)


def test_markdown_fences_cannot_be_closed_by_an_input(
    archived: Archived, capsys: pytest.CaptureFixture[str]
) -> None:
    """The input with a ``` run sits in a longer fence, whole."""
    text = transcript(capsys, archived, "markdown")
    expected = (
        "````\n" + orjson.dumps(HOSTILE_INPUT, option=orjson.OPT_INDENT_2).decode() + "\n````"
    )

    assert expected in text
    assert text.startswith(f"# Session {archived.hostile_session}\n")


def test_a_session_not_archived_is_one_error_line(
    archived: Archived, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 and a clear message, not a traceback."""
    code = main(["archive", "transcript", "sesn_not_there", "--uri", archived.uri])
    err = capsys.readouterr().err

    assert (2, True) == (code, "error: session sesn_not_there has no events" in err)
