"""The simulator's state and operations, shared by the HTTP handlers and the `Simulator` API."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

from simulator import intake, updates
from simulator.clock import Clock, Ids
from simulator.config import SCENARIOS, SimulatorConfig
from simulator.core_checks import check_metadata
from simulator.engine import agents
from simulator.errors import invalid
from simulator.faults import Faults
from simulator.ground_truth import GroundTruth
from simulator.ratelimit import RateLimiter
from simulator.registry import Registry
from simulator.session import SimSession

# (session, autopilot?) -> start its engine task; the Simulator owns the tasks.
Starter = Callable[[SimSession, bool], None]
Stopper = Callable[[SimSession], Awaitable[None]]
INITIAL_EVENTS_MAX = 50


class Core:
    """Sessions, ids, clock, ground truth and faults; creates and changes sessions."""

    def __init__(
        self, config: SimulatorConfig, start_engine: Starter, stop_engine: Stopper
    ) -> None:
        self.config = config
        self.ids = Ids(config.seed)
        self.clock = Clock()
        self.truth = GroundTruth(config.ground_truth_path)
        self.faults = Faults()
        self.registry = Registry(self.ids, self.clock, self.truth, self.faults)
        self.limiter = RateLimiter(config.create_rpm, config.other_rpm)
        self.rng = random.Random(config.seed)  # noqa: S311 - simulation, not security
        self._start_engine = start_engine
        self._stop_engine = stop_engine

    def create_session(
        self,
        scenario: str | None = None,
        metadata: dict[str, str] | None = None,
        agent_id: str | None = None,
        *,
        autopilot: bool = True,
        tools: list[dict[str, Any]] | None = None,
        title: str | None = None,
        environment_id: str | None = None,
    ) -> str:
        name = scenario or self.config.scenario
        if name not in SCENARIOS:
            raise invalid(f"unknown scenario {name!r}; one of {SCENARIOS}", "unknown_scenario")
        stamp = self.clock.stamp()
        session = SimSession(
            id=self.ids.new("sesn_"),
            seq=len(self.registry.ordered),
            scenario=name,
            created_at=stamp,
            updated_at=stamp,
            agent=agents.snapshot(agent_id or self.ids.new("agent_"), name, tools),
            environment_id=environment_id or "env_01simulator",
            title=title,
            metadata=check_metadata(metadata or {}),
            primary_thread_id=self.ids.new("sthr_"),
        )
        self.registry.add(session)
        self._notify(session, "session.created")
        self._start_engine(session, autopilot)
        return session.id

    def create_from_api(self, body: Any) -> SimSession:
        """`POST /v1/sessions`: the session waits idle for the client's first event."""
        if not isinstance(body, dict):
            raise invalid("body must be an object", "invalid_body")
        agent_id, tools = _agent_ref(body.get("agent"))
        if not isinstance(body.get("environment_id"), str):
            raise invalid("environment_id is required", "invalid_environment")
        budget = _budget(body.get("budget"))
        check_metadata(body.get("metadata") or {})
        initial = _initial_events(body.get("initial_events"))
        session_id = self.create_session(
            metadata=body.get("metadata"),
            agent_id=agent_id,
            autopilot=False,
            tools=tools,
            title=body.get("title"),
            environment_id=body["environment_id"],
        )
        session = self.registry.get(session_id)
        session.budget = budget
        session.vault_ids = [str(v) for v in body.get("vault_ids") or []]
        if initial:
            intake.accept(self.registry, session, initial)
        return session

    def inject(self, session_id: str, raw_event: dict[str, Any]) -> dict[str, Any]:
        session = self.registry.sessions[session_id]
        return self.registry.persist(session, dict(raw_event))

    def update(self, session: SimSession, body: Any) -> None:
        """`POST /v1/sessions/{id}`: apply the patch; emit `session.updated` if anything changed."""
        self.registry.require_writable(session)
        if not isinstance(body, dict):
            raise invalid("body must be an object", "invalid_body")
        changed = updates.apply(session, body)
        if changed:
            session.updated_at = self.clock.stamp()
            self.registry.persist(session, {"type": "session.updated", **changed})

    def archive(self, session: SimSession) -> None:
        """Read-only from now on; refused while running (spec §2.1)."""
        if session.archived_at is not None:
            return
        if session.status == "running":
            raise invalid("cannot archive a session while it is running", "session_running")
        session.archived_at = self.clock.stamp()
        session.updated_at = session.archived_at
        session.hub.close_all()
        self._notify(session, "session.archived")

    async def delete(self, session: SimSession) -> None:
        """Emit `session.deleted` (ends every stream), then forget the session's history."""
        if session.status == "running":
            raise invalid("cannot delete a session while it is running", "session_running")
        self.registry.persist(session, {"type": "session.deleted"})
        session.deleted = True
        session.hub.close_all()
        await self._stop_engine(session)

    def _notify(self, session: SimSession, webhook_type: str) -> None:
        for hook in self.registry.resource_listeners:
            hook(session, webhook_type)


def _initial_events(events: Any) -> list[dict[str, Any]]:
    """`initial_events`: ≤50, only user.message / user.define_outcome, all valid or none."""
    if events is None:
        return []
    if not isinstance(events, list) or len(events) > INITIAL_EVENTS_MAX:
        raise invalid("initial_events must be an array of at most 50 events", "invalid_body")
    parsed = intake.parse_events({"events": events}) if events else []
    for index, event in enumerate(parsed):
        if event["type"] not in ("user.message", "user.define_outcome"):
            raise invalid(
                f"initial_events[{index}]: only user.message and user.define_outcome",
                "invalid_event_type",
            )
    intake.validate_new(parsed)
    return parsed


def _budget(budget: Any) -> dict[str, Any] | None:
    if budget is None:
        return None
    try:
        int(budget["max_list_cost"]["amount"])
    except (KeyError, TypeError, ValueError) as exc:
        raise invalid(
            "budget must be {type: limit, max_list_cost: {...}}", "invalid_budget"
        ) from exc
    return dict(budget)


def _agent_ref(agent: Any) -> tuple[str, list[dict[str, Any]] | None]:
    if isinstance(agent, str) and agent:
        return agent, None
    if isinstance(agent, dict) and isinstance(agent.get("id"), str):
        tools = agent.get("tools") if agent.get("type") == "agent_with_overrides" else None
        return agent["id"], tools
    raise invalid("agent must be an agent id or an agent reference", "invalid_agent")
