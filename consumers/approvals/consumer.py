"""`ApprovalConsumer`: sees gated tool uses, decides by policy, answers once or escalates.

Exactly-once across restarts and replicas rests on three things: Kafka gives one replica at a
time a session (its partition of the events topic); every answer goes through `Answerer`'s
protocol (durable intent in the state topic, history check on any doubt); and a rebalance waits
for answers in flight on the partitions it takes away, and a new owner reads the state topic to
its end before it acts.
"""

from __future__ import annotations

import argparse
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from aiokafka.errors import KafkaError

from consumers.approvals import metrics
from consumers.approvals.answer import Answerer
from consumers.approvals.api import BotApi
from consumers.approvals.audit import AuditLog
from consumers.approvals.config import ApprovalSettings
from consumers.approvals.errors import ApiError
from consumers.approvals.model import (
    ANSWERED,
    ANSWERED_ELSEWHERE,
    ANSWERING,
    ESCALATED,
    SESSION_GONE,
    SHADOW,
    TERMINAL,
    WITHDRAWN,
    Entry,
    is_gated,
    new_entry,
)
from consumers.approvals.notify import Notifier
from consumers.approvals.resolver import Resolver
from consumers.approvals.state import StateStore
from consumers.approvals.web import ApproverPage
from consumers.base import Consumer, ConsumerContext, EventRecord
from consumers.errors import ConsumerError

if TYPE_CHECKING:
    from consumers.approvals.policy import Decision, Policy

log = structlog.get_logger(__name__)

SESSION_CACHE_SIZE = 10_000
_ENDED = frozenset({"session.status_terminated", "session.deleted"})


class ApprovalConsumer(Consumer):
    """The approval bot (`streamer consume approvals --policy FILE [--shadow]`)."""

    name = "approvals"
    parallel_keys = True  # sessions are independent; each one's events stay in order

    def __init__(self, settings: ApprovalSettings | None = None, policy: Policy | None = None):
        self.settings = settings or ApprovalSettings()
        self.policy = policy
        self._sessions: OrderedDict[str, tuple[str | None, dict[str, str]] | None] = OrderedDict()
        self._api = BotApi(self.settings)
        self._notifier = Notifier(self.settings.webhook_url)
        self._parts: _Parts | None = None
        self._page: ApproverPage | None = None

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """`--policy FILE`, `--shadow`, the escalation timeout and the webhook."""
        parser.add_argument("--policy", help="approvals: the policy file (TOML)")
        parser.add_argument("--shadow", action="store_true", help="approvals: never answer")
        parser.add_argument("--escalation-timeout-secs", type=float)
        parser.add_argument("--timeout-message", help="approvals: deny message on timeout")
        parser.add_argument("--webhook-url", help="approvals: Slack-compatible notifications")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ApprovalConsumer:
        """Settings from the environment, overridden by the command line."""
        overrides: dict[str, Any] = {"shadow": bool(getattr(args, "shadow", False))}
        for arg, field in (("policy", "policy_path"), ("webhook_url", "webhook_url"),
                           ("escalation_timeout_secs", "escalation_timeout_secs"),
                           ("timeout_message", "timeout_message")):  # fmt: skip
            if getattr(args, arg, None) is not None:
                overrides[field] = getattr(args, arg)
        return cls(ApprovalSettings(**overrides))

    async def start(self, ctx: ConsumerContext) -> None:
        """Load the policy, connect to the API and Kafka, read the state, start the resolver."""
        if self.policy is None:
            self.policy = _load_policy(self.settings.policy_path)
        state = StateStore(ctx.kafka, self.settings.state_topic)
        audit = AuditLog(ctx.kafka)
        answerer = Answerer(self._api, state, audit, self.settings)
        self._parts = _Parts(state, audit, answerer, Resolver(state, answerer, self.settings))
        await self._api.start()
        await self._api.check_key()
        await audit.start()
        await self._notifier.start()
        await state.start()
        await self._parts.resolver.start()
        self._page = ApproverPage(state, self.settings, ctx.kafka)  # the API and the page
        await self._page.start()
        ctx.routes.extend(self._page.routes)
        for warning in self.policy.warnings:  # e.g. a rule that can never match
            metrics.PROBLEMS.labels("policy_warning").inc()
            log.warning("policy_warning", warning=warning)
        log.info(
            "approvals_started",
            policy_version=self.policy.version,
            shadow=self.settings.shadow,
            http_auth=self._page.auth.mode,
        )

    async def stop(self) -> None:
        """Stop the resolver, then every client; safe twice."""
        if self._page is not None:
            await self._page.stop()
        if self._parts is not None:
            await self._parts.resolver.stop()
            await self._parts.answerer.drain()
            await self._parts.state.stop()
            await self._parts.audit.stop()
        await self._notifier.stop()
        await self._api.stop()

    async def on_assigned(self, partitions: set[int]) -> None:
        """Read the state topic to its end before acting for the new sessions."""
        if self._parts is not None:
            await self._parts.state.catch_up()
            self._parts.resolver.owned |= partitions

    async def on_revoked(self, partitions: set[int]) -> None:
        """Wait for answers in flight on these partitions, then let them go."""
        if self._parts is None:
            return
        await self._parts.answerer.drain()
        for partition in sorted(partitions):
            async with self._parts.answerer.gates[partition].exclusive():
                self._parts.resolver.owned.discard(partition)

    @property
    def state(self) -> StateStore:
        """The state store (after `start`)."""
        return self.parts.state

    @property
    def parts(self) -> _Parts:
        """The running parts; raises before `start`."""
        if self._parts is None:
            raise ConsumerError("the approvals consumer is not started", kind="config")
        return self._parts

    async def handle(self, record: EventRecord) -> None:
        """Route one event. Kafka trouble (state, audit) is retriable: the runner retries."""
        try:
            await self._route(record)
        except KafkaError as exc:
            raise ConsumerError(
                f"Kafka: {type(exc).__name__}", retriable=True, kind="kafka"
            ) from exc

    async def _route(self, record: EventRecord) -> None:
        if is_gated(record):
            await self._on_tool_use(record)
        elif record.type == "user.tool_confirmation":
            await self._on_confirmation(record)
        elif record.type == "session.status_idle":
            await self._on_idle(record)
        elif record.type in _ENDED:
            await self._on_session_ended(record)

    async def _on_tool_use(self, record: EventRecord) -> None:
        state, answerer = self.state, self.parts.answerer
        existing = state.get(record.event_id)
        if existing is not None:
            if existing.status == ANSWERING:  # a crash between POST and record: read history
                await answerer.answer_soon(existing)
            return
        entry = new_entry(record, ESCALATED)
        try:
            session = await self._session(record.session_id)
        except ApiError as exc:  # cannot evaluate conditions: a person decides instead
            metrics.PROBLEMS.labels("api_error").inc()
            log.warning("tool_use_session_unreadable", session_id=record.session_id,
                        tool_use_id=record.event_id, status=exc.status)  # fmt: skip
            assert self.policy is not None
            await self._escalate(entry.with_(decision="ask", decided_by="policy",
                                             policy_version=self.policy.version,
                                             decided_note="session unreadable"))  # fmt: skip
            return
        if session is None:
            metrics.PROBLEMS.labels("session_gone").inc()
            log.warning("tool_use_session_gone", session_id=record.session_id,
                        tool_use_id=record.event_id)  # fmt: skip
            await state.put(entry.with_(status=SESSION_GONE))
            return
        entry = self._decide(entry, record, *session)
        metrics.DECISIONS.labels(entry.decision or "ask", "policy").inc()
        if self.settings.shadow:
            await self._record_shadow(entry)
        elif entry.decision == "ask":
            await self._escalate(entry)
        else:
            await answerer.answer_soon(entry.with_(decided_at=time.time()))

    def _decide(
        self, entry: Entry, record: EventRecord, agent_id: str | None, metadata: dict[str, str]
    ) -> Entry:
        assert self.policy is not None
        tool_input = record.data.get("input")
        if not isinstance(tool_input, Mapping):
            metrics.PROBLEMS.labels("malformed_input").inc()
            log.warning("tool_input_malformed", tool_use_id=entry.tool_use_id,
                        input_type=type(tool_input).__name__)  # fmt: skip
        decision = _evaluate(self.policy, entry=entry, tool_input=tool_input, agent_id=agent_id,
                             metadata=metadata, data=record.data)  # fmt: skip
        if decision.problem:
            metrics.PROBLEMS.labels(decision.problem).inc()
        reason = decision.reason
        if decision.action == "deny" and not reason:
            reason = f"Denied by the approval policy (rule {decision.rule or 'default'})."
        return entry.with_(
            decision=decision.action, rule=decision.rule, reason=reason,
            policy_version=self.policy.version, decided_by="policy", agent_id=agent_id,
        )  # fmt: skip

    async def _escalate(self, entry: Entry) -> None:
        state, audit = self.state, self.parts.audit
        deadline = time.time() + self.settings.escalation_timeout_secs
        stored = await state.put(entry.with_(status=ESCALATED, deadline=deadline))
        await audit.publish(stored, "escalated")
        self.parts.resolver.notify(stored, self._notifier)
        log.info("approval_escalated", tool_use_id=entry.tool_use_id, session_id=entry.session_id,
                 tool=entry.tool, rule=entry.rule)  # fmt: skip

    async def _record_shadow(self, entry: Entry) -> None:
        state, audit = self.state, self.parts.audit
        stored = await state.put(entry.with_(status=SHADOW, decided_at=time.time()))
        metrics.OUTCOMES.labels(SHADOW).inc()
        await audit.publish(stored, SHADOW, shadow=True)

    async def _on_confirmation(self, record: EventRecord) -> None:
        state, answerer, audit = self.state, self.parts.answerer, self.parts.audit
        tool_use_id = record.data.get("tool_use_id")
        entry = state.get(tool_use_id) if isinstance(tool_use_id, str) else None
        if entry is None or entry.status in TERMINAL:
            return
        async with answerer.hold(entry):
            entry = state.get(entry.tool_use_id) or entry
            if entry.status in TERMINAL:
                return
            ours = entry.attempted  # our POST landed but we crashed before recording it
            result = record.data.get("result")
            outcome = ANSWERED if ours else ANSWERED_ELSEWHERE
            changes: dict[str, Any] = {"status": outcome, "decided_at": time.time()}
            if not ours:
                changes |= {"decided_by": "external", "decision": str(result), "rule": None}
            stored = await state.put(entry.with_(**changes))
        metrics.OUTCOMES.labels(outcome).inc()
        await audit.publish(stored, outcome)

    async def _on_idle(self, record: EventRecord) -> None:
        """Withdraw the session's escalations it no longer waits for (spec §6.2, §7.5).

        The session-level idle lists every id it waits on (`requires_action.event_ids`); any
        other stop reason means it waits on none (an interrupt closes pending calls, then
        `end_turn`). Answering such an escalation later could only be refused. A thread's own
        idle is `session.thread_status_idle`, which this does not read.
        """
        waiting = _waiting_ids(record.data.get("stop_reason"))
        state = self.state
        for entry in list(state.open_entries()):
            if entry.session_id != record.session_id or entry.status != ESCALATED:
                continue
            if entry.tool_use_id in waiting:
                continue
            stored = await state.put(entry.with_(status=WITHDRAWN, decided_at=time.time()))
            metrics.OUTCOMES.labels(WITHDRAWN).inc()
            await self.parts.audit.publish(stored, WITHDRAWN)
            log.info("approval_withdrawn", tool_use_id=entry.tool_use_id,
                     session_id=entry.session_id)  # fmt: skip

    async def _on_session_ended(self, record: EventRecord) -> None:
        state = self.state
        self._sessions.pop(record.session_id, None)
        for entry in list(state.open_entries()):
            if entry.session_id == record.session_id and entry.status == ESCALATED:
                await state.put(entry.with_(status=SESSION_GONE))

    async def _session(self, session_id: str) -> tuple[str | None, dict[str, str]] | None:
        """(agent id, metadata) of a session; None when it is gone. Cached."""
        if session_id in self._sessions:
            self._sessions.move_to_end(session_id)
            return self._sessions[session_id]
        body = await self._api.session(session_id)
        found = None if body is None else _session_facts(body)
        self._sessions[session_id] = found
        if len(self._sessions) > SESSION_CACHE_SIZE:
            self._sessions.popitem(last=False)
        return found


@dataclass(frozen=True)
class _Parts:
    state: StateStore
    audit: AuditLog
    answerer: Answerer
    resolver: Resolver


def _waiting_ids(stop: object) -> frozenset[str]:
    """The ids a `session.status_idle` stop reason says the session waits on (none unless
    `requires_action`)."""
    if not isinstance(stop, dict) or stop.get("type") != "requires_action":
        return frozenset()
    ids = stop.get("event_ids")
    return frozenset(i for i in ids if isinstance(i, str)) if isinstance(ids, list) else frozenset()


def _session_facts(body: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
    agent = body.get("agent")
    agent_id = agent.get("id") if isinstance(agent, dict) else agent
    metadata = body.get("metadata")
    clean = {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}
    return (agent_id if isinstance(agent_id, str) else None), clean


def _evaluate(
    policy: Policy,
    *,
    entry: Entry,
    tool_input: object,
    agent_id: str | None,
    metadata: dict[str, str],
    data: dict[str, Any],
) -> Decision:
    from consumers.approvals.policy import Decision, ToolCall  # noqa: PLC0415 - see _load_policy

    server = data.get("mcp_server_name")
    call = ToolCall(
        tool=entry.tool,
        input=tool_input if isinstance(tool_input, Mapping) else {},
        agent_id=agent_id,
        session_metadata=metadata,
        mcp_server_name=server if isinstance(server, str) else None,
    )
    try:
        return policy.evaluate(call)
    except Exception:
        metrics.PROBLEMS.labels("policy_error").inc()
        log.exception("policy_evaluation_failed", tool_use_id=entry.tool_use_id)
        return Decision(action="ask", rule=None, reason=None, policy_version=policy.version)


def _load_policy(path: str | None) -> Policy:
    from consumers.approvals.policy import Policy, PolicyError  # noqa: PLC0415 - heavy (bashlex)

    if not path:
        raise ConsumerError("approvals needs a policy file (--policy FILE)", kind="config")
    try:
        return Policy.load(path)
    except (PolicyError, OSError) as exc:
        metrics.PROBLEMS.labels("policy_invalid").inc()
        log.error("policy_invalid", path=path, error=str(exc))  # noqa: TRY400 - no traceback
        raise ConsumerError(f"policy {path}: {exc}", kind="config") from None
