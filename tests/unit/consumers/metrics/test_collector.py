"""The `/metrics` collector and the state record: names, labels, round trip, series that leave."""

from __future__ import annotations

import shutil
import subprocess

from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_families

from consumers.metrics.collector import Exposition
from consumers.metrics.state import PartitionState, Session, Snapshot

ISSUE_NAMES = {
    "agents_model_tokens_total", "agents_cost_usd_total", "agents_events_total",
    "agents_sessions", "agents_sessions_ended_total", "agents_session_errors_total",
    "agents_tool_uses_total", "agents_tool_errors_total",
    "agents_model_request_duration_seconds_bucket", "agents_turn_duration_seconds_bucket",
    "agents_stop_reasons_total", "agents_approvals_pending",
    "agents_approval_oldest_pending_seconds", "agents_approval_wait_seconds_bucket",
    "agents_approval_decisions_total", "agents_metrics_problems_total",
}  # fmt: skip


def populated() -> PartitionState:
    state = PartitionState(next_offset=42)
    state.inc("agents_model_tokens", ("input", "claude-sonnet-4-6"), 10)
    state.inc("agents_cost_usd", ("claude-sonnet-4-6",), 0.5)
    state.inc("agents_events", ("agent.message",))
    state.inc("agents_sessions_ended", ())
    state.inc("agents_session_errors", ("unknown_error", "retrying"))
    state.inc("agents_tool_uses", ("bash", "ask"))
    state.inc("agents_tool_errors", ("bash",))
    state.inc("agents_stop_reasons", ("end_turn",))
    state.inc("agents_approval_decisions", ("allow", "policy"))
    state.inc("agents_metrics_problems", ("tool_unknown",))
    for name in state.histograms:
        state.histograms[name].observe(1.5)
    state.sessions["sesn_1"] = Session(model="claude-sonnet-4-6", status="running",
                                       pending={"sevt_1": 1_000.0})  # fmt: skip
    return state


def exposition(exported: dict[int, Snapshot], *, open_metrics: bool = False) -> str:
    rendering = Exposition()
    rendering.add_source("", exported)
    text = rendering.render(open_metrics).decode()
    return text + "# EOF\n" if open_metrics else text


def sample_names(text: str) -> set[str]:
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_every_metric_of_the_issue_is_exported_with_its_partition() -> None:
    """Every name of issue 10 is there (OpenMetrics parses it), each sample with `partition`."""
    text = exposition({3: populated().snapshot()}, open_metrics=True)
    families = list(text_string_to_metric_families(text))
    partitions = {s.labels.get("partition") for f in families for s in f.samples}
    assert (set(), {"3"}) == (ISSUE_NAMES - sample_names(text), partitions)


def test_a_partition_that_leaves_takes_its_series_away() -> None:
    """Without the partition's snapshot, none of its series remain."""
    exported = {0: populated().snapshot(), 1: populated().snapshot()}
    del exported[1]
    text = exposition(exported)
    assert (False, True) == ('partition="1"' in text, 'partition="0"' in text)


def test_state_record_round_trip() -> None:
    """A state record parses back into the same aggregates, sessions and offset."""
    state = populated()
    again = PartitionState.from_json(state.to_json(group="g", topic="t", partition=0))
    assert (state.to_json(), again.next_offset) == (again.to_json(), 42)


def test_oldest_pending_is_an_age_in_seconds() -> None:
    """agents_approval_oldest_pending_seconds is now minus the oldest pending tool use's time."""
    text = exposition({0: populated().snapshot()})
    [line] = [x for x in text.splitlines() if x.startswith("agents_approval_oldest_pending")]
    assert float(line.rsplit(" ", 1)[1]) > 1_000_000  # the tool use is from 1970


def samples(families: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(x.name, tuple(sorted(x.labels.items()))): x.value
            for f in families for x in f.samples}  # type: ignore[attr-defined]  # fmt: skip


def test_text_format_and_openmetrics_hold_the_same_samples() -> None:
    """Both formats parse (OpenMetrics strictly) to the same series and values."""
    exported = {0: populated().snapshot(), 5: populated().snapshot()}
    plain = samples(text_families(exposition(exported)))
    strict = samples(text_string_to_metric_families(exposition(exported, open_metrics=True)))
    drop_age = "agents_approval_oldest_pending_seconds"  # a clock reading: differs by microseconds
    assert {k: v for k, v in plain.items() if k[0] != drop_age} == {
        k: v for k, v in strict.items() if k[0] != drop_age
    }


def test_promtool_accepts_the_exposition() -> None:
    """`promtool check metrics` (Prometheus' own linter) finds nothing wrong with the text."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run `make system-deps`"
    text = exposition({0: populated().snapshot()})
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                             text=True, check=False)  # fmt: skip
    assert (0, "") == (checked.returncode, checked.stdout + checked.stderr)


def test_events_and_approvals_partitions_are_distinct_series() -> None:
    """The approvals topic's partitions are labelled approvals-<n>, so partition 0 of each topic
    never collides; they export counters only (no session gauges of their own)."""
    rendering = Exposition()
    rendering.add_source("", {0: populated().snapshot()})
    audit = PartitionState(next_offset=3)
    audit.inc("agents_approval_decisions", ("allow", "person"))
    rendering.add_source("approvals-", {0: audit.snapshot()})
    parsed = samples(text_families(rendering.render().decode()))
    decisions = sorted(dict(k[1])["partition"] for k in parsed
                       if k[0] == "agents_approval_decisions_total")  # fmt: skip
    gauges = sorted(dict(k[1])["partition"] for k in parsed if k[0] == "agents_approvals_pending")
    assert (["0", "approvals-0"], ["0"]) == (decisions, gauges)
