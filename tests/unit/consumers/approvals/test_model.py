"""Entries: tool names as the policy spells them, input digests, previews."""

from __future__ import annotations

import dataclasses

import orjson

from consumers.approvals.model import (
    ANSWERING,
    MAX_PREVIEW_CHARS,
    Entry,
    digest,
    new_entry,
    tool_name,
)
from consumers.base import EventRecord


def record(data: bytes) -> EventRecord:
    return EventRecord.parse(topic="t", partition=3, offset=0, key=b"sesn_1", value=data,
                             headers={})  # fmt: skip


def test_mcp_tool_names_carry_the_server() -> None:
    """An MCP tool use is named mcp__<server>__<tool>; a built-in by its name."""
    mcp = {"type": "agent.mcp_tool_use", "name": "create_issue", "mcp_server_name": "github"}
    assert ("mcp__github__create_issue", "bash") == (
        tool_name(mcp), tool_name({"type": "agent.tool_use", "name": "bash"})
    )  # fmt: skip


def test_digest_ignores_key_order() -> None:
    """Two inputs with the same content in another key order have one digest."""
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})


def test_entry_of_a_huge_cross_posted_tool_use() -> None:
    """A huge input is previewed truncated; the thread of a cross-posted call is kept."""
    value = (
        b'{"id":"sevt_9","type":"agent.tool_use","name":"write","evaluated_permission":"ask",'
        b'"session_thread_id":"sthr_2","input":{"content":"' + b"x" * 100_000 + b'"}}'
    )
    entry = new_entry(record(value), "escalated")
    assert (MAX_PREVIEW_CHARS, "sthr_2", 3, "write") == (
        len(entry.input_preview), entry.thread_id, entry.partition, entry.tool
    )  # fmt: skip


def test_state_value_round_trips_with_every_field() -> None:
    """An entry's state-topic value holds every field, in order, and parses back equal."""
    entry = Entry("sevt_1", "sesn_1", 2, "bash", "sha256:x", "ls", ANSWERING, attempted=True,
                  decision="allow", seen_at=1.5, decided_at=2.5)  # fmt: skip
    expected = dataclasses.asdict(entry)
    assert list(expected.items()) == list(orjson.loads(entry.to_json()).items())
    assert (entry, expected) == (Entry.from_json(entry.to_json()), entry.public())
