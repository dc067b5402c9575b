"""Folding session events into a partition's aggregates (the metrics of docs/METRICS.md).

`EventFold.apply` never awaits and never raises on bad input: every odd record is counted in
the problem counter and counted nowhere else it does not belong.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from consumers.base import EventRecord
from consumers.metrics.prices import PriceTable
from consumers.metrics.problems import Problems
from consumers.metrics.state import PartitionState, Session
from consumers.metrics.vocab import (
    ERROR_TYPES,
    EVENT_TYPES,
    OTHER,
    RETRY_STATUSES,
    STOP_REASONS,
    TOKEN_TYPES,
    in_vocabulary,
    permission_label,
    tool_label,
    usage_counts,
)

TOKENS, COST, ESTIMATED = "agents_model_tokens", "agents_cost_usd", "agents_cost_estimated_usd"
EVENTS, ENDED, ERRORS = "agents_events", "agents_sessions_ended", "agents_session_errors"
TOOL_USES, TOOL_ERRORS = "agents_tool_uses", "agents_tool_errors"
STOP_REASONS_METRIC = "agents_stop_reasons"
REQUEST_SECONDS = "agents_model_request_duration_seconds"
TURN_SECONDS = "agents_turn_duration_seconds"
WAIT_SECONDS = "agents_approval_wait_seconds"
MODEL_HEADER = "ce_agentmodel"
SWEEP_EVERY_SECS = 3600  # how often (in record time) sessions gone quiet are forgotten
_ENDED = frozenset({"session.status_terminated", "session.deleted"})
_TOOL_USES = frozenset({"agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use"})
# result type -> the field naming its tool use
_RESULTS = {
    "agent.tool_result": "tool_use_id",
    "agent.mcp_tool_result": "mcp_tool_use_id",
    "user.custom_tool_result": "custom_tool_use_id",
}

Handler = Callable[[PartitionState, Session, EventRecord], None]


def event_time(data: dict[str, Any]) -> float | None:
    """The event's `processed_at` as epoch seconds; None when absent or not RFC 3339."""
    value = data.get("processed_at")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


class EventFold:
    """Applies one event record to the state of its partition."""

    def __init__(
        self, prices: PriceTable, problems: Problems, session_expiry_secs: float = 30 * 86400
    ) -> None:
        self.prices = prices
        self.problems = problems
        self.session_expiry_secs = session_expiry_secs
        self._handlers: dict[str, Handler] = {
            "session.status_running": self._running,
            "session.status_idle": self._idle,
            "session.status_rescheduled": self._rescheduled,
            "session.error": self._error,
            "session.usage": self._usage_snapshot,
            "span.model_request_start": self._span_start,
            "span.model_request_end": self._span_end,
            "span.outcome_evaluation_end": self._outcome_end,
            "user.tool_confirmation": self._confirmation,
            **dict.fromkeys(_TOOL_USES, self._tool_use),
            **dict.fromkeys(_RESULTS, self._tool_result),
        }

    def apply(self, state: PartitionState, record: EventRecord) -> None:
        """Count `record` (an event of `state`'s partition) into `state`."""
        kind = record.type
        if kind in EVENT_TYPES:
            state.inc(EVENTS, (kind,))
        else:
            state.inc(EVENTS, (OTHER,))
            self._problem(state, "event_type_unknown", record)
        if kind in _ENDED:
            if state.sessions.pop(record.session_id, None) is not None:
                state.inc(ENDED, ())
            return
        session = state.sessions.get(record.session_id)
        if session is None:
            session = state.sessions[record.session_id] = self._new_session(state, record)
        moment = record.timestamp_ms / 1000
        session.last_seen = moment
        if moment > state.clock:
            state.clock = moment
            if moment - state.swept_at > SWEEP_EVERY_SECS:
                state.expire(self.session_expiry_secs)
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(state, session, record)

    def _problem(self, state: PartitionState, problem: str, record: EventRecord) -> None:
        self.problems.report(state, problem, session_id=record.session_id,
                             event_id=record.event_id, type=record.type,
                             partition=record.partition, offset=record.offset)  # fmt: skip

    def _new_session(self, state: PartitionState, record: EventRecord) -> Session:
        raw = record.headers.get(MODEL_HEADER)
        if not raw:
            self._problem(state, "model_missing", record)
            return Session()
        label = self.prices.model_label(raw.decode("utf-8", "replace"))
        if label is None:
            self._problem(state, "model_unknown", record)
            return Session()
        return Session(model=label)

    def _time(self, state: PartitionState, record: EventRecord) -> float | None:
        moment = event_time(record.data)
        if moment is None:
            self._problem(state, "timestamp_invalid", record)
        return moment

    def _label(
        self, state: PartitionState, record: EventRecord, found: tuple[str, str | None]
    ) -> str:
        label, problem = found
        if problem is not None:
            self._problem(state, problem, record)
        return label

    # -- session lifecycle -------------------------------------------------------------------

    def _running(self, state: PartitionState, session: Session, record: EventRecord) -> None:
        session.status = "running"
        if session.running_since is None:
            session.running_since = self._time(state, record)

    def _rescheduled(self, state: PartitionState, session: Session, record: EventRecord) -> None:
        session.status = "rescheduling"

    def _idle(self, state: PartitionState, session: Session, record: EventRecord) -> None:
        stop = record.data.get("stop_reason")
        kind = stop.get("type") if isinstance(stop, dict) else None
        reason = self._label(state, record, in_vocabulary(kind, STOP_REASONS))
        state.inc(STOP_REASONS_METRIC, (reason,))
        started, session.running_since, session.status = session.running_since, None, "idle"
        if started is not None:
            ended = self._time(state, record)
            if ended is not None:
                state.histograms[TURN_SECONDS].observe(max(0.0, ended - started))
        if reason == "requires_action":
            ids = stop.get("event_ids") if isinstance(stop, dict) else None
            wanted = set(ids) if isinstance(ids, list) else set()
            session.pending = {k: v for k, v in session.pending.items() if k in wanted}
        else:  # the turn is over: nothing waits for an answer, no span or tool is open
            session.pending.clear()
            session.spans.clear()
            session.tools.clear()

    def _error(self, state: PartitionState, session: Session, record: EventRecord) -> None:
        error = record.data.get("error")
        error = error if isinstance(error, dict) else {}
        retry = error.get("retry_status")
        retry = retry.get("type") if isinstance(retry, dict) else retry
        error_type = self._label(state, record, in_vocabulary(error.get("type"), ERROR_TYPES))
        retry_status = self._label(state, record, in_vocabulary(retry, RETRY_STATUSES))
        state.inc(ERRORS, (error_type, retry_status))

    # -- tokens and cost ---------------------------------------------------------------------

    def _span_start(self, state: PartitionState, session: Session, record: EventRecord) -> None:
        moment = self._time(state, record)
        if moment is not None:
            session.spans[record.event_id] = moment

    def _span_end(self, state: PartitionState, session: Session, record: EventRecord) -> None:
        self._tokens(state, session, record, record.data.get("model_usage"))
        start_id = record.data.get("model_request_start_id")
        started = session.spans.pop(start_id, None) if isinstance(start_id, str) else None
        if started is None:
            self._problem(state, "span_unmatched", record)
            return
        ended = self._time(state, record)
        if ended is not None:
            state.histograms[REQUEST_SECONDS].observe(max(0.0, ended - started))

    def _outcome_end(self, state: PartitionState, session: Session, record: EventRecord) -> None:
        self._tokens(state, session, record, record.data.get("usage"))

    def _tokens(
        self, state: PartitionState, session: Session, record: EventRecord, usage: object
    ) -> None:
        counts, problem = usage_counts(usage)
        if counts is None:
            assert problem is not None
            self._problem(state, problem, record)
            return
        model = session.model
        for token_type, count in zip(TOKEN_TYPES, counts, strict=True):
            if count:
                state.inc(TOKENS, (token_type, model), count)
        price = self.prices.models.get(model)
        if price is None:
            return
        usd = price.estimate(counts)
        state.inc(ESTIMATED, (model,), usd)
        if session.list_cost < 0:  # no list_cost snapshot yet: the estimate is the figure
            state.inc(COST, (model,), usd)
            session.cost_covered += usd

    def _usage_snapshot(self, state: PartitionState, session: Session, record: EventRecord) -> None:
        usage = record.data.get("usage")
        if not isinstance(usage, dict):
            self._problem(state, "usage_malformed", record)
            return
        tokens = _snapshot_tokens(usage)
        if tokens is None:
            self._problem(state, "usage_malformed", record)
            return
        if tokens < session.snapshot_tokens:
            self._problem(state, "usage_snapshot_backwards", record)
            return
        session.snapshot_tokens = tokens
        if "list_cost" not in usage:
            return
        cents = _minor_units(usage["list_cost"])
        if cents is None:
            self._problem(state, "cost_malformed", record)
            return
        if cents < session.list_cost:
            self._problem(state, "usage_snapshot_backwards", record)
            return
        session.list_cost = cents
        total = cents / 100
        if total > session.cost_covered:  # the API's figure is ahead of what was counted
            state.inc(COST, (session.model,), total - session.cost_covered)
            session.cost_covered = total

    # -- tools and approvals -----------------------------------------------------------------

    def _tool_use(self, state: PartitionState, session: Session, record: EventRecord) -> None:
        data, kind = record.data, record.type
        tool = self._label(state, record, tool_label(data, kind, state.mcp_servers))
        permission = self._label(state, record, permission_label(data, kind))
        state.inc(TOOL_USES, (tool, permission))
        session.tools[record.event_id] = tool
        if permission == "ask" and kind != "agent.custom_tool_use":
            moment = self._time(state, record)
            session.pending[record.event_id] = (
                moment if moment is not None else record.timestamp_ms / 1000
            )

    def _tool_result(self, state: PartitionState, session: Session, record: EventRecord) -> None:
        use_id = record.data.get(_RESULTS[record.type])
        tool = session.tools.pop(use_id, None) if isinstance(use_id, str) else None
        if tool is None:
            self._problem(state, "tool_result_unmatched", record)
            tool = "custom" if record.type == "user.custom_tool_result" else OTHER
        if record.data.get("is_error") is True:
            state.inc(TOOL_ERRORS, (tool,))

    def _confirmation(self, state: PartitionState, session: Session, record: EventRecord) -> None:
        use_id = record.data.get("tool_use_id")
        asked = session.pending.pop(use_id, None) if isinstance(use_id, str) else None
        if asked is None:
            self._problem(state, "confirmation_unmatched", record)
            return
        answered = self._time(state, record)
        if answered is not None:
            state.histograms[WAIT_SECONDS].observe(max(0.0, answered - asked))


def _snapshot_tokens(usage: dict[str, Any]) -> int | None:
    """The sum of a snapshot's token figures (all optional); None when one is not a count."""
    total = 0
    values = [usage.get(k, 0) for k in ("input_tokens", "output_tokens", "cache_read_input_tokens")]
    creation = usage.get("cache_creation", {})
    if isinstance(creation, dict):
        values += list(creation.values())
    else:
        return None
    for value in values:
        if type(value) is not int or value < 0:
            return None
        total += value
    return total


def _minor_units(cost: object) -> int | None:
    """`{amount: "<int>", currency: "USD"}` as an int of cents; None otherwise."""
    if not isinstance(cost, dict) or cost.get("currency") != "USD":
        return None
    amount = cost.get("amount")
    if not isinstance(amount, str) or not amount.isdigit() or len(amount) > 15:
        return None
    return int(amount)
