"""Folding events into a partition's aggregates: each metric, and each kind of bad input."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from consumers.base import EventRecord
from consumers.metrics.fold import EventFold
from consumers.metrics.prices import PriceTable
from consumers.metrics.problems import Problems
from consumers.metrics.state import PartitionState

MODEL = "claude-sonnet-4-6"
USAGE = {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 1000,
         "cache_creation_input_tokens": 50}  # fmt: skip


class Feed:
    """A fold over one partition's state, fed events of one session."""

    def __init__(self, model: str | None = MODEL) -> None:
        self.state = PartitionState()
        self.fold = EventFold(PriceTable.load(), Problems())
        self.model = model
        self.offset = 0
        self.second = 0
        self.timestamp_ms = 0

    def __call__(self, event_type: str, session: str = "sesn_1", **fields: Any) -> str:
        self.offset += 1
        self.second += 1
        event_id = fields.pop("id", f"sevt_{self.offset}")
        data = {"id": event_id, "type": event_type,
                "processed_at": f"2026-04-07T04:00:{self.second:02d}.000Z", **fields}  # fmt: skip
        headers = {"ce_agentmodel": self.model.encode()} if self.model else {}
        record = EventRecord.parse(topic="t", partition=0, offset=self.offset,
                                   key=session.encode(), value=orjson.dumps(data),
                                   headers=headers, timestamp_ms=self.timestamp_ms)  # fmt: skip
        self.fold.apply(self.state, record)
        return event_id

    def counter(self, name: str) -> dict[tuple[str, ...], float]:
        return self.state.counters[name]

    def problems(self) -> dict[tuple[str, ...], float]:
        return self.counter("agents_metrics_problems")


def test_tokens_are_counted_by_type_and_model() -> None:
    """A model request's usage adds to agents_model_tokens_total{token_type, model}."""
    feed = Feed()
    start = feed("span.model_request_start")
    feed("span.model_request_end", model_request_start_id=start, model_usage=USAGE)
    feed("span.outcome_evaluation_end", usage=USAGE)
    assert {
        ("input", MODEL): 200, ("output", MODEL): 40, ("cache_read", MODEL): 2000,
        ("cache_creation", MODEL): 100,
    } == feed.counter("agents_model_tokens")  # fmt: skip


def test_model_request_duration_is_span_start_to_end() -> None:
    """The histogram observes end minus start (one second apart here)."""
    feed = Feed()
    start = feed("span.model_request_start")
    feed("span.model_request_end", model_request_start_id=start, model_usage=USAGE)
    hist = feed.state.histograms["agents_model_request_duration_seconds"]
    assert (1, 1.0) == (sum(hist.counts), hist.sum)


def test_cost_is_estimated_until_a_list_cost_snapshot_then_follows_its_deltas() -> None:
    """Estimates count until the first snapshot; then the API's list_cost deltas, never less."""
    feed = Feed()
    start = feed("span.model_request_start")
    usage = {"input_tokens": 1_000_000, "output_tokens": 0}
    feed("span.model_request_end", model_request_start_id=start, model_usage=usage)  # $3 est.
    feed("session.usage", usage={"list_cost": {"amount": "350", "currency": "USD"}})
    feed("span.model_request_end", model_request_start_id="x", model_usage=usage)  # not added
    feed("session.usage", usage={"list_cost": {"amount": "700", "currency": "USD"}})
    assert (pytest.approx(7.0), pytest.approx(6.0)) == (
        feed.counter("agents_cost_usd")[(MODEL,)],
        feed.counter("agents_cost_estimated_usd")[(MODEL,)],
    )


def test_session_lifecycle_gauges_turns_stop_reasons_and_end() -> None:
    """running -> idle observes a turn and a stop reason; terminated drops the session."""
    feed = Feed()
    feed("session.status_running")
    running = feed.state.snapshot().sessions["running"]
    feed("session.status_idle", stop_reason={"type": "end_turn"})
    idle = feed.state.snapshot().sessions["idle"]
    feed("session.status_terminated")
    turn = feed.state.histograms["agents_turn_duration_seconds"]
    assert (1, 1, 1, {(): 1}, {("end_turn",): 1}, {}) == (
        running, idle, sum(turn.counts), feed.counter("agents_sessions_ended"),
        feed.counter("agents_stop_reasons"), feed.state.sessions,
    )  # fmt: skip


def test_gated_tool_use_is_pending_until_confirmed() -> None:
    """An `ask` tool use is pending until its confirmation, which observes the wait."""
    feed = Feed()
    use = feed("agent.tool_use", name="bash", evaluated_permission="ask", input={})
    pending = feed.state.snapshot()
    feed("user.tool_confirmation", tool_use_id=use, result="allow")
    wait = feed.state.histograms["agents_approval_wait_seconds"]
    assert (1, True, 0, 1.0) == (
        pending.pending, pending.oldest_pending is not None, feed.state.snapshot().pending,
        wait.sum,
    )  # fmt: skip


def test_tool_labels_and_errors() -> None:
    """Built-in names, mcp__<server>, custom; a result with is_error counts its tool's error."""
    feed = Feed()
    bash = feed("agent.tool_use", name="bash", evaluated_permission="allow", input={})
    mcp = feed("agent.mcp_tool_use", name="create_issue", mcp_server_name="github",
               evaluated_permission="ask", input={})  # fmt: skip
    feed("agent.custom_tool_use", name="lookup", input={})
    feed("agent.tool_result", tool_use_id=bash, is_error=True)
    feed("agent.mcp_tool_result", mcp_tool_use_id=mcp, is_error=False)
    assert (
        {("bash", "allow"): 1, ("mcp__github", "ask"): 1, ("custom", "none"): 1},
        {("bash",): 1},
        {},
    ) == (feed.counter("agents_tool_uses"), feed.counter("agents_tool_errors"), feed.problems())


def test_session_errors_by_type_and_retry_status() -> None:
    """session.error counts {error_type, retry_status}; unknown types become other."""
    feed = Feed()
    feed(
        "session.error",
        error={"type": "model_overloaded_error", "retry_status": {"type": "retrying"}},
    )
    feed("session.error", error={"type": "brand_new_error", "retry_status": {"type": "terminal"}})
    assert {("model_overloaded_error", "retrying"): 1, ("other", "terminal"): 1} == feed.counter(
        "agents_session_errors"
    )


BAD_USAGE = [
    ({"input_tokens": 10}, "usage_malformed"),
    ("not an object", "usage_malformed"),
    (None, "usage_malformed"),
    ({"input_tokens": "10", "output_tokens": 1}, "usage_malformed"),
    ({"input_tokens": True, "output_tokens": 1}, "usage_malformed"),
    ({"input_tokens": -5, "output_tokens": 1}, "usage_out_of_range"),
    ({"input_tokens": 10**12, "output_tokens": 1}, "usage_out_of_range"),
]


@pytest.mark.parametrize(("usage", "problem"), BAD_USAGE)
def test_bad_model_usage_is_a_problem_and_counts_no_tokens(usage: object, problem: str) -> None:
    """Missing, mistyped, negative or huge usage: one problem, no tokens, no cost."""
    feed = Feed()
    start = feed("span.model_request_start")
    feed("span.model_request_end", model_request_start_id=start, model_usage=usage)
    assert ({(problem,): 1}, {}, {}) == (
        feed.problems(), feed.counter("agents_model_tokens"), feed.counter("agents_cost_usd")
    )  # fmt: skip


def test_unknown_event_type_is_counted_as_other_and_a_problem() -> None:
    """An event type outside the API's catalogue: type="other", problem event_type_unknown."""
    feed = Feed()
    feed("agent.brand_new")
    assert ({("other",): 1}, {("event_type_unknown",): 1}) == (
        feed.counter("agents_events"), feed.problems()
    )  # fmt: skip


def test_usage_snapshot_going_backwards_changes_no_cost() -> None:
    """A snapshot lower than the one before is a problem and moves no counter."""
    feed = Feed()
    feed("session.usage", usage={"list_cost": {"amount": "500", "currency": "USD"}})
    feed("session.usage", usage={"list_cost": {"amount": "300", "currency": "USD"}})
    assert ({(MODEL,): 5.0}, {("usage_snapshot_backwards",): 1}) == (
        feed.counter("agents_cost_usd"), feed.problems()
    )  # fmt: skip


def test_tool_name_never_seen_before_is_other() -> None:
    """A built-in tool use with an unknown name: tool="other", problem tool_unknown."""
    feed = Feed()
    feed("agent.tool_use", name="teleport", evaluated_permission="allow", input={})
    assert ({("other", "allow"): 1}, {("tool_unknown",): 1}) == (
        feed.counter("agents_tool_uses"), feed.problems()
    )  # fmt: skip


@pytest.mark.parametrize(
    ("model", "problem"), [("gpt-9", "model_unknown"), (None, "model_missing")]
)
def test_session_of_unknown_model_is_other_and_not_priced(model: str | None, problem: str) -> None:
    """Tokens still count (model="other"); no cost is made up; one problem per session."""
    feed = Feed(model)
    feed("span.model_request_end", model_request_start_id="x", model_usage=USAGE, id="e1")
    feed("span.model_request_end", model_request_start_id="y", model_usage=USAGE, id="e2")
    tokens = feed.counter("agents_model_tokens")
    assert (2340, {}, 1) == (
        sum(v for k, v in tokens.items() if k[1] == "other"), feed.counter("agents_cost_usd"),
        feed.problems()[(problem,)],
    )  # fmt: skip


def test_dated_model_id_takes_its_family_row() -> None:
    """claude-sonnet-4-5-20250929 is labelled claude-sonnet-4-5."""
    feed = Feed("claude-sonnet-4-5-20250929")
    feed("span.model_request_end", model_request_start_id="x", model_usage=USAGE)
    assert {"claude-sonnet-4-5"} == {k[1] for k in feed.counter("agents_model_tokens")}


def test_mcp_servers_are_capped() -> None:
    """Past MAX_MCP_SERVERS distinct servers in a partition, tool="other" (tool_label_capped)."""
    feed = Feed()
    for index in range(25):
        feed("agent.mcp_tool_use", name="t", mcp_server_name=f"srv{index}",
             evaluated_permission="allow", input={})  # fmt: skip
    uses = feed.counter("agents_tool_uses")
    assert (21, 5, {("tool_label_capped",): 5}) == (
        len(uses),
        uses[("other", "allow")],
        feed.problems(),
    )


def test_a_problem_is_logged_once_however_often_it_recurs() -> None:
    """Three unknown event types: counted three times, logged once."""
    feed = Feed()
    with capture_logs() as logs:
        for _ in range(3):
            feed("agent.brand_new")
    lines = [entry for entry in logs if entry["event"] == "metrics_bad_input"]
    assert (3, 1, "event_type_unknown") == (
        feed.problems()[("event_type_unknown",)], len(lines), lines[0]["problem"]
    )  # fmt: skip


def test_interrupted_turn_clears_pending_approvals() -> None:
    """An idle that is not requires_action (an interrupt's end_turn) leaves nothing pending."""
    feed = Feed()
    use = feed("agent.tool_use", name="bash", evaluated_permission="ask", input={})
    feed("session.status_idle", stop_reason={"type": "requires_action", "event_ids": [use]})
    waiting = feed.state.snapshot().pending
    feed("session.status_idle", stop_reason={"type": "end_turn"})
    assert (1, 0) == (waiting, feed.state.snapshot().pending)


def test_sessions_quiet_for_longer_than_the_expiry_are_forgotten() -> None:
    """A session without a record for the expiry (by record time) leaves the state."""
    feed = Feed()
    feed.fold.session_expiry_secs = 100
    feed.timestamp_ms = 1_000_000
    feed("session.status_idle", session="sesn_old", stop_reason={"type": "end_turn"})
    feed.timestamp_ms = 1_000_000 + 5_000_000  # 5000 s later: past the expiry and a sweep
    feed("session.status_running", session="sesn_new")
    assert ["sesn_new"] == list(feed.state.sessions)
