"""Session update rules (spec §2.1): what may change, and the `session.updated` fields."""

from __future__ import annotations

from typing import Any

from simulator.core_checks import check_metadata
from simulator.errors import invalid
from simulator.session import SimSession

UPDATABLE = frozenset({"agent", "budget", "metadata", "title", "vault_ids"})


def apply(session: SimSession, body: dict[str, Any]) -> dict[str, Any]:
    """Validate everything first, then apply; returns only the fields that changed."""
    unknown = set(body) - UPDATABLE
    if unknown:
        raise invalid(f"unknown fields: {sorted(unknown)}", "invalid_body")
    if "vault_ids" in body:
        raise invalid("vault_ids cannot be changed after creation", "vault_ids_create_only")
    metadata = _patched_metadata(session, body.get("metadata"))
    agent = _patched_agent(session, body["agent"]) if "agent" in body else None
    if "budget" in body:
        _check_budget(session, body["budget"])
    if "title" in body and not isinstance(body["title"], str | None):
        raise invalid("title must be a string or null", "invalid_title")
    return _commit(session, body, metadata, agent)


def _commit(
    session: SimSession,
    body: dict[str, Any],
    metadata: dict[str, str] | None,
    agent: dict[str, Any] | None,
) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    if metadata is not None and metadata != session.metadata:
        session.metadata = changed["metadata"] = metadata
    if agent is not None and agent != session.agent:
        session.agent = changed["agent"] = agent
    if "budget" in body and body["budget"] != session.budget:
        session.budget = changed["budget"] = body["budget"]
        session.paused_at_budget = False
    if "title" in body and body["title"] != session.title:
        session.title = changed["title"] = body["title"]
    return changed


def _patched_metadata(session: SimSession, patch: Any) -> dict[str, str] | None:
    if patch is None:
        return None
    if not isinstance(patch, dict):
        raise invalid("metadata must be an object", "invalid_metadata")
    merged = dict(session.metadata)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return check_metadata(merged)


def _patched_agent(session: SimSession, patch: Any) -> dict[str, Any]:
    if session.status == "running":
        raise invalid("the agent cannot change while the session is running", "session_running")
    if not isinstance(patch, dict) or set(patch) - {"type", "id", "tools", "mcp_servers"}:
        raise invalid("only the agent's tools and mcp_servers may change", "invalid_agent")
    agent = dict(session.agent)
    for key in ("tools", "mcp_servers"):
        if key in patch:
            if not isinstance(patch[key], list):
                raise invalid(f"agent.{key} must be an array", "invalid_agent")
            agent[key] = patch[key]
    return agent


def _check_budget(session: SimSession, budget: Any) -> None:
    if budget is None:
        return
    if session.budget is None:
        raise invalid("a budget can only be set at creation", "budget_create_only")
    try:
        amount = int(budget["max_list_cost"]["amount"])
    except (KeyError, TypeError, ValueError) as exc:
        raise invalid(
            "budget must be {type: limit, max_list_cost: {...}}", "invalid_budget"
        ) from exc
    if amount <= session.usage.list_cost_cents():
        raise invalid("budget must be above the cost already consumed", "budget_not_raised")
