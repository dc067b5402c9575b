"""What `streamer tail` says about each kind of event."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.tail.summary import Summary, summarize

TOOLS = {"toolu_01abcdefghijkl": "bash"}

CASES: list[tuple[str, dict[str, Any], Summary]] = [
    ("agent.message", {"content": [{"type": "text", "text": "Done.\nDetails follow"}]},
     Summary("Done. …")),
    ("user.message", {"content": [{"type": "image", "source": {}}]}, Summary("[image]")),
    ("agent.tool_use", {"id": "toolu_01abcdefghijkl", "name": "bash",
                        "input": {"command": "ls -la\necho hi"}}, Summary("bash: ls -la …")),
    ("agent.tool_use", {"name": "write", "input": {"file_path": "/a.py"},
                        "evaluated_permission": "ask"}, Summary("write: /a.py [ask]", "ask")),
    ("agent.tool_use", {"name": "grep", "input": {"pattern": "TODO", "path": "src"}},
     Summary("grep: TODO in src")),
    ("agent.mcp_tool_use", {"name": "search", "mcp_server_name": "docs",
                            "input": {"query": "kafka"}}, Summary("docs/search: kafka")),
    ("agent.tool_result", {"tool_use_id": "toolu_01abcdefghijkl", "is_error": True,
                           "content": [{"type": "text", "text": "no such file"}]},
     Summary("bash → error: no such file", "bad")),
    ("user.tool_confirmation",
     {"tool_use_id": "toolu_01abcdefghijkl", "result": "deny", "deny_message": "not on main"},
     Summary("deny bash: not on main", "bad")),
    ("user.tool_confirmation", {"tool_use_id": "toolu_0199999999999999", "result": "allow"},
     Summary("allow toolu_…99999999", "good")),
    ("session.status_idle", {"stop_reason": {"type": "requires_action", "event_ids": ["a", "b"]}},
     Summary("requires_action (2 waiting)", "ask")),
    ("session.status_idle", {"stop_reason": {"type": "end_turn"}}, Summary("end_turn")),
    ("session.error", {"error": {"type": "overloaded_error", "message": "busy",
                                 "retry_status": {"type": "retrying"}}},
     Summary("overloaded_error: busy (retrying)", "bad")),
    ("span.model_request_end", {"model_usage": {"input_tokens": 10, "output_tokens": 3,
                                                "cache_read_input_tokens": 7}},
     Summary("in 10 out 3 cache-read 7")),
    ("session.usage", {"usage": {"input_tokens": 5, "output_tokens": 1,
                                 "list_cost": {"amount": "250", "currency": "USD"}}},
     Summary("in 5 out 1 $2.50")),
    ("span.outcome_evaluation_end", {"result": "satisfied", "explanation": "tests pass"},
     Summary("satisfied: tests pass", "good")),
    ("session.updated", {"title": "Fix the build", "metadata": {}},
     Summary('title "Fix the build", metadata')),
]  # fmt: skip


@pytest.mark.parametrize(("event_type", "data", "expected"), CASES)
def test_each_kind_is_summarised_by_what_matters(
    event_type: str, data: dict[str, Any], expected: Summary
) -> None:
    assert expected == summarize(event_type, {"id": "sevt_1", "type": event_type, **data}, TOOLS)


def test_an_unknown_type_lists_its_fields_briefly() -> None:
    data = {"id": "sevt_1", "type": "agent.brand_new", "n": 3, "text": "x" * 100}

    assert Summary('n=3 text="' + "x" * 59 + '…"') == summarize("agent.brand_new", data)


def test_a_known_type_of_a_surprising_shape_falls_back_to_its_fields() -> None:
    """`error` a string, not an object; `content` absent: never an exception."""
    assert (Summary('error="boom"'), Summary("")) == (
        summarize("session.error", {"error": "boom"}),
        summarize("agent.message", {}),
    )
