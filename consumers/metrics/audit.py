"""`ApprovalAuditMetrics`: the approval bot's audit records (`agents.approvals`) as
`agents_approval_decisions_total{decision, decided_by}`, with the same exactly-once state.

The audit topic is not an events topic: its records are parsed here (`parse_record`), and a
record that is not an audit record is counted (`audit_record_invalid`) and dead-lettered.
"""

from __future__ import annotations

from typing import Any

import orjson

from consumers.base import EventRecord
from consumers.errors import BadRecordError
from consumers.metrics.partitions import PartitionedAggregates
from consumers.metrics.state import PartitionState
from consumers.metrics.vocab import DECISIONS, OTHER, decided_by_label, in_vocabulary

DECISIONS_METRIC = "agents_approval_decisions"
AUDIT_TYPE = "approval.audit"
ANSWERED = frozenset({"answered", "answered_elsewhere"})  # outcomes where an answer landed
RECENT_CAP = 5_000  # audit keys remembered per partition, to count a rewritten record once


class ApprovalAuditMetrics(PartitionedAggregates):
    """Runs inside the metrics consumer, as its own group over the approvals topic."""

    name = "metrics-approvals"

    def parse_record(self, **fields: Any) -> EventRecord:
        """An audit record as an `EventRecord` (type `approval.audit`, id tool use + outcome)."""
        value, partition, offset = (
            fields.get("value"),
            int(fields["partition"]),
            int(fields["offset"]),
        )
        data = _audit(value)
        if data is None:
            state = self.fresh(partition, offset)
            if state is not None:
                self.problems.report(state, "audit_record_invalid", partition=partition,
                                     offset=offset)  # fmt: skip
                self.advance(partition, offset)
            raise BadRecordError("not an approval audit record")
        key = fields.get("key")
        session = key.decode("utf-8", "replace") if key else str(data.get("session_id", ""))
        return EventRecord(
            str(fields["topic"]), partition, offset, session,
            f"{data['tool_use_id']}:{data.get('outcome')}", AUDIT_TYPE, data, bytes(value or b""),
            dict(fields.get("headers") or {}), int(fields.get("timestamp_ms") or 0),
        )  # fmt: skip

    def fold(self, state: PartitionState, record: EventRecord) -> None:
        """Count an answer that landed, once per (tool use, outcome)."""
        data = record.data
        if data.get("outcome") not in ANSWERED:
            return  # escalated, shadow, refused, session_gone: no answer reached the session
        if record.event_id in state.recent:
            self.problems.report(state, "audit_duplicate", tool_use_id=data.get("tool_use_id"))
            return
        state.recent[record.event_id] = float(data.get("at") or 0)
        if len(state.recent) > RECENT_CAP:
            del state.recent[next(iter(state.recent))]
        decision, problem = in_vocabulary(data.get("decision"), DECISIONS)
        decided_by = decided_by_label(data.get("decided_by"))
        if problem is not None or decided_by is None:
            self.problems.report(state, "label_unknown", tool_use_id=data.get("tool_use_id"))
        state.inc(DECISIONS_METRIC, (decision, decided_by or OTHER))


def _audit(value: object) -> dict[str, Any] | None:
    if not isinstance(value, bytes | bytearray) or not value:
        return None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("tool_use_id"), str):
        return None
    return data
