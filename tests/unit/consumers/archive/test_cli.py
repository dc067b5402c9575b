"""`streamer archive ...` without Kafka: user errors and the transcript's rendering."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumers.archive.transcript import build
from consumers.archive.transcript_render import render
from streamer.cli import main


def test_no_table_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A URI without a table: exit 2 and `error: no archive table at ...`."""
    uri = str(tmp_path / "nothing")
    code = main(["archive", "query", "SELECT 1", "--uri", uri])

    err = capsys.readouterr().err

    assert (2, f"error: no archive table at {uri}") == (code, err.splitlines()[-1])


def test_bad_time_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--since` that is not RFC 3339: exit 2 before anything is read or written."""
    code = main(["archive", "replay", "--topic", "t", "--since", "yesterday",
                 "--uri", str(tmp_path)])  # fmt: skip

    assert (2, True) == (code, "--since: not an RFC 3339 time" in capsys.readouterr().err)


def _row(n: int, data: dict[str, Any]) -> dict[str, Any]:
    data = {"id": f"sevt_{n}", **data}
    return {"session_id": "sesn_1", "event_id": data["id"], "type": data["type"],
            "processed_at": datetime(2026, 1, 1, 0, 0, n, tzinfo=UTC), "thread_id": None,
            "agent_id": "agent_1", "raw": orjson.dumps(data).decode()}  # fmt: skip


def test_tool_call_pairs_use_approval_and_result() -> None:
    """A gated tool use, its denial and its (error) result make one entry; totals count them."""
    rows = [
        _row(1, {"type": "agent.tool_use", "name": "bash", "input": {"command": "<b>rm</b>"},
                 "evaluated_permission": "ask", "evaluation": {"type": "always_ask"}}),
        _row(2, {"type": "user.tool_confirmation", "tool_use_id": "sevt_1", "result": "deny",
                 "deny_message": "no"}),
        _row(3, {"type": "agent.tool_result", "tool_use_id": "sevt_1", "is_error": True,
                 "content": [{"type": "text", "text": "no"}]}),
        _row(4, {"type": "span.model_request_end", "model_usage": {"input_tokens": 5,
                 "output_tokens": 2, "cache_read_input_tokens": 1,
                 "cache_creation_input_tokens": 0}}),
        _row(5, {"type": "session.usage", "usage": {"list_cost": {"amount": "142",
                 "currency": "USD"}}}),
    ]  # fmt: skip
    transcript = build("sesn_1", rows)
    (call,) = transcript.entries

    assert ("bash", "deny", "no", "no", True) == (
        call.tool, call.approval.decision if call.approval else None,
        call.approval.message if call.approval else None, call.result, call.is_error,
    )  # fmt: skip
    assert ({"deny": 1}, 5, "1.42 USD") == (
        transcript.totals.approvals, transcript.totals.tokens["input_tokens"],
        transcript.totals.cost,
    )  # fmt: skip
    page = render(transcript, "html")
    assert "<b>" not in page
    assert "&lt;b&gt;rm&lt;/b&gt;" in page
