"""The Grafana dashboards of agents-streamer, built from code with grafana-foundation-sdk.

    .venv/bin/python deploy/grafana/dashboards.py          # (re)write dashboards/*.json
    .venv/bin/python deploy/grafana/dashboards.py --check  # exit 1 if a committed file differs

`make dashboards` runs the first. The JSON files next to this script are what Grafana's
provisioning (`provisioning/dashboards/agents.yml`) loads; they are generated, never edited by
hand: a test checks that each equals what `build_all()` produces now. Metric names and their
meaning: docs/DASHBOARDS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as gc
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
# `rate()` windows: Grafana's own choice (at least four scrape intervals), `$__range` for totals.
RATE = "$__rate_interval"
# Every scrape job but the streamer's is a `streamer consume` process (`agents-<consumer>`).
CONSUMER_JOBS = '{job=~"agents-.+", job!="agents-streamer"}'


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL expression of a panel, and the legend of its series."""

    expr: str
    legend: str = ""


def rate(metric: str, by: str = "", selector: str = "") -> str:
    """`sum [by (...)] (rate(metric{selector}[$__rate_interval]))`."""
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{selector}[{RATE}]))"


def quantiles(histogram: str, by: str = "", selector: str = "") -> list[Query]:
    """p50 and p99 of a Prometheus histogram over the rate window."""
    keys = f"le, {by}" if by else "le"
    prefix = "{{" + by + "}} " if by else ""
    return [
        Query(
            f"histogram_quantile({q}, sum by ({keys}) "
            f"(rate({histogram}_bucket{selector}[{RATE}])))",
            f"{prefix}p{round(q * 100)}",
        )
        for q in (0.5, 0.99)
    ]


def _target(query: Query, ref: str) -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(query.expr)
        .legend_format(query.legend or "__auto")
        .ref_id(ref)
        .datasource(DATASOURCE)
    )


def _targets(panel: Any, queries: list[Query]) -> Any:
    for index, query in enumerate(queries):
        panel = panel.with_target(_target(query, chr(ord("A") + index)))
    return panel


def series(title: str, description: str, unit: str, queries: list[Query], span: int = 8) -> Any:
    """A time series panel."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(span)
        .height(8)
        .min(0)
        .fill_opacity(10)
        .legend(
            gc.VizLegendOptions()
            .show_legend(True)
            .display_mode(cm.LegendDisplayMode.TABLE)
            .placement(cm.LegendPlacement.BOTTOM)
            .calcs(["mean", "max", "lastNotNull"])
        )
        .tooltip(gc.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI))
    )
    return _targets(panel, queries)


def single(title: str, description: str, unit: str, queries: list[Query], span: int = 4) -> Any:
    """A stat panel: the latest value of each series, with a sparkline."""
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(span)
        .height(5)
        .graph_mode(cm.BigValueGraphMode.AREA)
        .color_mode(cm.BigValueColorMode.VALUE)
        .reduce_options(gc.ReduceDataOptions().calcs(["lastNotNull"]))
    )
    return _targets(panel, queries)


def fleet_row() -> list[Any]:
    """Sessions by status, events per second, turns and how they stop."""
    return [
        single("Sessions by status", "Live sessions now (running, idle, rescheduling).", "short",
               [Query("sum by (status) (agents_sessions)", "{{status}}")]),
        single("Events / s", "Events reaching agents.session-events, all types.", "ops",
               [Query(rate("agents_events_total"), "events/s")]),
        single("Sessions ended / min", "Sessions that reached a terminal state.", "short",
               [Query(f"{rate('agents_sessions_ended_total')} * 60", "ended/min")]),
        series("Events / s by type", "The fleet's event log, by event type.", "ops",
               [Query(rate("agents_events_total", "type"), "{{type}}")], span=12),
        series("Turn duration", "Running to idle, p50 and p99.", "s",
               quantiles("agents_turn_duration_seconds"), span=12),
        series("Stop reasons / s", "Why turns ended (end_turn, requires_action, ...).", "ops",
               [Query(rate("agents_stop_reasons_total", "reason"), "{{reason}}")], span=12),
    ]  # fmt: skip


CACHE_READ = rate("agents_model_tokens_total", selector='{token_type="cache_read"}')
INPUT_SIDE = rate("agents_model_tokens_total", selector='{token_type!="output"}')


def tokens_row() -> list[Any]:
    """Tokens and cost by model and token type."""
    return [
        series("Tokens / s by model and type", "From span.model_request_end model_usage.",
               "short", [Query(rate("agents_model_tokens_total", "model, token_type"),
                               "{{model}} {{token_type}}")], span=12),
        series("Cost (USD / hour) by model", "list_cost deltas, else the price table.",
               "currencyUSD", [Query(f"{rate('agents_cost_usd_total', 'model')} * 3600",
                                     "{{model}}")], span=12),
        single("Cost in range (USD)", "Spend over the dashboard's time range.", "currencyUSD",
               [Query("sum(increase(agents_cost_usd_total[$__range]))", "USD")], span=6),
        single("Tokens in range by type", "Tokens over the dashboard's time range.", "short",
               [Query("sum by (token_type) (increase(agents_model_tokens_total[$__range]))",
                      "{{token_type}}")], span=10),
        single("Cache read share", "cache_read / all input-side tokens.", "percentunit",
               [Query(f"{CACHE_READ} / {INPUT_SIDE}", "cache read")], span=8),
        series("Model request duration", "span.model_request_start to _end, p50 and p99.", "s",
               quantiles("agents_model_request_duration_seconds"), span=12),
        series("Cost (USD / hour): reported vs estimated",
               "agents_cost_usd_total (list_cost where present) against the price table's "
               "estimate for every request.", "currencyUSD",
               [Query(f"{rate('agents_cost_usd_total')} * 3600", "reported"),
                Query(f"{rate('agents_cost_estimated_usd_total')} * 3600", "estimated")],
               span=12),
    ]  # fmt: skip


def tools_row() -> list[Any]:
    """Tool calls by tool and permission, and tool errors."""
    return [
        series("Tool uses / s by tool", "Built-in tools, mcp__<server>, custom, other.", "ops",
               [Query(rate("agents_tool_uses_total", "tool"), "{{tool}}")]),
        series("Tool uses / s by permission", "The event's evaluated_permission.", "ops",
               [Query(rate("agents_tool_uses_total", "permission"), "{{permission}}")]),
        series("Tool errors / s by tool", "Tool results that are errors.", "ops",
               [Query(rate("agents_tool_errors_total", "tool"), "{{tool}}"),
                Query(f"{rate('agents_tool_errors_total')} / {rate('agents_tool_uses_total')}",
                      "error ratio")]),
    ]  # fmt: skip


def approvals_row() -> list[Any]:
    """Pending approvals, the oldest one, wait times and decisions."""
    return [
        single("Approvals pending", "Gated tool uses nobody has answered yet.", "short",
               [Query("sum(agents_approvals_pending)", "pending")]),
        single("Oldest pending approval", "Age of the oldest unanswered tool use (stuck?).",
               "s", [Query("max(agents_approval_oldest_pending_seconds)", "oldest")]),
        series("Approval wait", "Tool use to confirmation, p50 and p99.", "s",
               quantiles("agents_approval_wait_seconds")),
        series("Approval decisions / s", "By decision and who decided.", "ops",
               [Query(rate("agents_approval_decisions_total", "decision, decided_by"),
                      "{{decision}} by {{decided_by}}")]),
    ]  # fmt: skip


def errors_row() -> list[Any]:
    """The agents' own errors (session.error events)."""
    return [
        series("Session errors / s", "session.error by error type and retry status.", "ops",
               [Query(rate("agents_session_errors_total", "error_type, retry_status"),
                      "{{error_type}} ({{retry_status}})")], span=12),
        series("Session errors per model request", "The error-rate alert's ratio.",
               "percentunit",
               [Query(f"{rate('agents_session_errors_total')}"
                      f" / {rate('agents_model_request_duration_seconds_count')}", "ratio")],
               span=12),
    ]  # fmt: skip


def streamer_row() -> list[Any]:
    """The streamer's own health: up, sessions followed, throughput, lag, errors."""
    return [
        single("Streamer up", "Scrape health of the streamer.", "short",
               [Query('sum(up{job="agents-streamer"})', "up")]),
        single("Followed sessions", "Sessions with a follower.", "short",
               [Query("sum(agents_streamer_followed_sessions)", "followed"),
                Query("sum(agents_streamer_open_streams)", "open streams")]),
        single("Checkpoint lag", "Oldest event accepted but not yet committed.", "s",
               [Query("max(agents_streamer_sink_checkpoint_lag_seconds)", "lag")]),
        series("Events in / out per second", "Read from the API vs handed to the sink.", "ops",
               [Query(rate("agents_streamer_events_received_total"), "received"),
                Query(rate("agents_streamer_events_published_total"), "published"),
                Query(rate("agents_streamer_sink_records_total", "topic_kind"),
                      "committed {{topic_kind}}")], span=12),
        series("Publish latency", "publish() to committed batch, p50 and p99.", "s",
               quantiles("agents_streamer_sink_publish_latency_seconds")),
        series("Skipped events / s", "Not published: duplicates, queued echoes, ...", "ops",
               [Query(rate("agents_streamer_events_skipped_total", "reason"), "{{reason}}")]),
        series("Streamer errors / s", "By fixed error kind.", "ops",
               [Query(rate("agents_streamer_errors_total", "kind"), "{{kind}}")]),
        series("Reconnects / s", "Stream reconnects by reason.", "ops",
               [Query(rate("agents_streamer_reconnects_total", "reason"), "{{reason}}")]),
        series("Sink transactions / s", "Batches committed or aborted.", "ops",
               [Query(rate("agents_streamer_sink_transactions_total", "outcome"), "{{outcome}}")]),
        series("Sink buffer", "Events waiting in the sink's buffer.", "short",
               [Query("sum(agents_streamer_sink_buffer_events)", "buffered")]),
        series("Batch commit time", "Write and commit of one batch, p50 and p99.", "s",
               quantiles("agents_streamer_sink_commit_seconds")),
    ]  # fmt: skip


def consumers_row() -> list[Any]:
    """Every consumer's health: up, throughput, lag, handler time; the approval bot's answers."""
    return [
        series("Consumers up", "Scrape health of every consume process.", "short",
               [Query(f"sum by (job) (up{CONSUMER_JOBS})", "{{job}}")]),
        series("Consumer lag (records)", "Records behind the high watermark, per consumer.",
               "short", [Query("max by (consumer) (agents_consumer_lag_records)",
                               "{{consumer}}")]),
        series("Consumer records / s", "By consumer and outcome.", "ops",
               [Query(rate("agents_consumer_records_total", "consumer, outcome"),
                      "{{consumer}} {{outcome}}")]),
        series("Handler time", "Per record, retries included, p50 and p99.", "s",
               quantiles("agents_consumer_handler_seconds", "consumer")),
        series("Offset commits / s", "By consumer and reason.", "ops",
               [Query(rate("agents_consumer_commits_total", "consumer, reason"),
                      "{{consumer}} {{reason}}")]),
        series("Approval bot answers / s", "The bot's decisions by who decided.", "ops",
               [Query(rate("agents_approvals_decisions_total", "decision, decided_by"),
                      "{{decision}} by {{decided_by}}"),
                Query("sum(agents_approvals_escalations_pending)", "escalations pending")]),
        series("Bad input / s", "Problems the metrics consumer counted; records the runner "
               "dead-lettered or failed on, by consumer and kind.", "ops",
               [Query(rate("agents_metrics_problems_total", "problem"), "metrics: {{problem}}"),
                Query(rate("agents_consumer_errors_total", "consumer, kind"),
                      "{{consumer}}: {{kind}}")], span=16),
    ]  # fmt: skip


ROWS = (
    ("Fleet", fleet_row),
    ("Tokens and cost", tokens_row),
    ("Tools", tools_row),
    ("Approvals", approvals_row),
    ("Session errors", errors_row),
    ("Streamer", streamer_row),
    ("Consumers", consumers_row),
)


def fleet_dashboard() -> gd.Dashboard:
    """The one wall-screen dashboard: the fleet, then the pipeline's own health."""
    builder = (
        gd.Dashboard("Agents fleet")
        .uid("agents-fleet")
        .description("Claude Managed Agents sessions through agents-streamer (docs/DASHBOARDS.md)")
        .tags(["agents-streamer", "generated"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("utc")
        .editable()
        .with_variable(gd.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    panel_id = 1
    for title, row in ROWS:
        builder = builder.with_row(gd.Row(title).id(panel_id))
        panel_id += 1
        for panel in row():
            builder = builder.with_panel(panel.id(panel_id))
            panel_id += 1
    return builder


def build_all() -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON (as plain data) of every dashboard shipped."""
    built = fleet_dashboard().build()
    return {"agents-fleet.json": json.loads(JSONEncoder().encode(built))}


def render(dashboard: dict[str, Any]) -> str:
    """The committed text of one dashboard: sorted keys, two-space indent, final newline."""
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the dashboards (or, with --check, report the ones that differ)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="default: %(default)s")
    args = parser.parse_args(argv)
    stale = []
    for name, dashboard in build_all().items():
        path, text = args.out_dir / name, render(dashboard)
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
            continue
        args.out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    for name in stale:
        print(f"{name} differs from the builder: run make dashboards", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
