"""The audit trail: one record per decision on `agents.approvals` (key = session id)."""

from __future__ import annotations

import time

import orjson
import structlog

from consumers.approvals.model import Entry
from consumers.producer import OwnedProducer

log = structlog.get_logger(__name__)


def audit_record(entry: Entry, outcome: str, *, shadow: bool) -> dict[str, object]:
    """What the audit topic holds for one decision (never the tool's input: its digest)."""
    return {
        "tool_use_id": entry.tool_use_id,
        "session_id": entry.session_id,
        "session_thread_id": entry.thread_id,
        "tool": entry.tool,
        "input_digest": entry.input_digest,
        "decision": entry.decision,
        "outcome": outcome,
        "rule": entry.rule,
        "reason": entry.reason,
        "policy_version": entry.policy_version,
        "decided_by": entry.decided_by,
        "decided_note": entry.decided_note,
        "wait_ms": round(max(0.0, (entry.decided_at or time.time()) - entry.seen_at) * 1000),
        "shadow": shadow,
        "at": time.time(),
    }


class AuditLog(OwnedProducer):
    """Publishes audit records; `start`/`stop`, `async with`."""

    async def publish(self, entry: Entry, outcome: str, *, shadow: bool = False) -> None:
        """Write one audit record and wait for the broker's ack."""
        value = orjson.dumps(audit_record(entry, outcome, shadow=shadow))
        await self.producer.send_and_wait(
            self._kafka.approvals_topic, value, key=entry.session_id.encode()
        )
        log.info("approval_audited", tool_use_id=entry.tool_use_id, decision=entry.decision,
                 outcome=outcome, decided_by=entry.decided_by, shadow=shadow)  # fmt: skip
