"""The simulator's state and operations, shared by the HTTP handlers and the `Simulator` API."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from streamer.simulator.clock import Clock, Ids
from streamer.simulator.config import SCENARIOS, SimulatorConfig
from streamer.simulator.engine import agents
from streamer.simulator.errors import ApiError, invalid
from streamer.simulator.faults import Faults
from streamer.simulator.ground_truth import GroundTruth
from streamer.simulator.registry import Registry
from streamer.simulator.session import SimSession

# (session, autopilot?) -> start its engine task; the Simulator owns the tasks.
Starter = Callable[[SimSession, bool], None]
METADATA_MAX_PAIRS = 16


class Core:
    """Sessions, ids, clock, ground truth and faults; creates and changes sessions."""

    def __init__(self, config: SimulatorConfig, start_engine: Starter) -> None:
        self.config = config
        self.ids = Ids(config.seed)
        self.clock = Clock()
        self.truth = GroundTruth(config.ground_truth_path)
        self.faults = Faults()
        self.registry = Registry(self.ids, self.clock, self.truth, self.faults)
        self.rng = random.Random(config.seed)  # noqa: S311 - simulation, not security
        self._start_engine = start_engine

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
        )
        self.registry.add(session)
        self._start_engine(session, autopilot)
        return session.id

    def create_from_api(self, body: Any) -> SimSession:
        """`POST /v1/sessions`: the session waits idle for the client's first event."""
        if not isinstance(body, dict):
            raise invalid("body must be an object", "invalid_body")
        agent_id, tools = _agent_ref(body.get("agent"))
        if not isinstance(body.get("environment_id"), str):
            raise invalid("environment_id is required", "invalid_environment")
        session_id = self.create_session(
            metadata=body.get("metadata"),
            agent_id=agent_id,
            autopilot=False,
            tools=tools,
            title=body.get("title"),
            environment_id=body["environment_id"],
        )
        return self.registry.get(session_id)

    def inject(self, session_id: str, raw_event: dict[str, Any]) -> dict[str, Any]:
        session = self.registry.sessions[session_id]
        return self.registry.persist(session, dict(raw_event))

    def update(self, session: SimSession, body: Any) -> None:
        raise ApiError(400, "update is not supported yet", "not_supported")

    def archive(self, session: SimSession) -> None:
        raise ApiError(400, "archive is not supported yet", "not_supported")

    async def delete(self, session: SimSession) -> None:
        raise ApiError(400, "delete is not supported yet", "not_supported")


def _agent_ref(agent: Any) -> tuple[str, list[dict[str, Any]] | None]:
    if isinstance(agent, str) and agent:
        return agent, None
    if isinstance(agent, dict) and isinstance(agent.get("id"), str):
        tools = agent.get("tools") if agent.get("type") == "agent_with_overrides" else None
        return agent["id"], tools
    raise invalid("agent must be an agent id or an agent reference", "invalid_agent")


def check_metadata(metadata: Any) -> dict[str, str]:
    if not isinstance(metadata, dict) or len(metadata) > METADATA_MAX_PAIRS:
        raise invalid("metadata must be an object of at most 16 pairs", "invalid_metadata")
    for key, value in metadata.items():
        if not isinstance(value, str) or len(key) > 64 or len(value) > 512:
            raise invalid("metadata keys ≤64 chars, values strings ≤512 chars", "invalid_metadata")
    return dict(metadata)
