"""The approval bot's metrics; labels from fixed vocabularies only."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DECISIONS = Counter(
    "agents_approvals_decisions",
    "Decisions on gated tool uses, by decision (allow, deny, ask) and who decided.",
    ["decision", "decided_by"],
)
OUTCOMES = Counter(
    "agents_approvals_outcomes",
    "What became of answers: answered, answered_elsewhere, session_gone, refused, shadow,"
    " withdrawn.",
    ["outcome"],
)
PROBLEMS = Counter(
    "agents_approvals_problems",
    "Bad input and trouble: malformed_input, api_error, history_check, webhook_failed,"
    " http_unauthorized, ...",
    ["kind"],
)
PENDING = Gauge("agents_approvals_escalations_pending", "Escalations waiting for a person.")
ANSWER_SECONDS = Histogram(
    "agents_approvals_answer_seconds",
    "From seeing a gated tool use to the API accepting its answer.",
    ["decided_by"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600),
)
