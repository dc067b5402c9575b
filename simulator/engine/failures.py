"""Injected agent-side failures: `session.error` with each `retry_status` (spec §6.3, §9.4)."""

from __future__ import annotations

from typing import Any

from simulator.engine.context import TurnContext, TurnEndedError
from simulator.engine.lifecycle_events import terminate

MODEL_ERRORS = (
    "model_overloaded_error",
    "model_rate_limited_error",
    "model_request_failed_error",
    "unknown_error",
    "mcp_connection_failed_error",
    "mcp_authentication_failed_error",
    "billing_error",
)
# Repository errors are always `retrying`: the session continues without the repository.
REPOSITORY_ERRORS = ("repository_clone_error", "repository_checkout_error")
# What ends a session at its first model request: refused credentials, no credit.
AT_ONCE_ERRORS = ("mcp_authentication_failed_error", "billing_error")


def error_object(kind: str, retry_status: str) -> dict[str, Any]:
    error: dict[str, Any] = {
        "type": kind,
        "message": f"simulated {kind.removesuffix('_error').replace('_', ' ')}",
        "retry_status": {"type": retry_status},
    }
    if kind.startswith("mcp_"):
        error["mcp_server_name"] = "github"
    if kind.startswith("repository_"):
        error["repository_url"] = "https://github.com/example/project"
    return error


async def model_error(turn: TurnContext, start_id: str) -> str:
    """A failed model request: retried (rescheduled), exhausted (idle) or terminal.

    Returns the id of the retried request's `span.model_request_start` when it is retried.
    """
    kind = turn.rng.choice(MODEL_ERRORS + REPOSITORY_ERRORS)
    roll = turn.rng.random()
    retry_status = "retrying" if roll < 0.7 else "exhausted" if roll < 0.9 else "terminal"
    if kind in REPOSITORY_ERRORS:
        retry_status = "retrying"
    await turn.span_end(start_id, is_error=True)
    await turn.emit({"type": "session.error", "error": error_object(kind, retry_status)})
    if retry_status == "retrying":
        turn.session.status = "rescheduling"
        await turn.emit({"type": "session.status_rescheduled"})
        await turn.think()
        await turn.set_running()
        retried = await turn.emit({"type": "span.model_request_start"})
        return str(retried["id"])
    if retry_status == "exhausted":
        turn.session.inbox.drain()  # the turn is dead: queued inputs are flushed
        raise TurnEndedError({"type": "retries_exhausted"})
    await terminate(turn.session, turn.registry)
    raise TurnEndedError(None)


async def fail_at_once(turn: TurnContext) -> None:
    """The session's first model request fails for good: running, the failed request, a
    terminal `session.error`, terminated — milliseconds after the session was created, so a
    poller of live statuses never sees it."""
    await turn.set_running()
    start = await turn.emit({"type": "span.model_request_start"})
    kind = turn.rng.choice(AT_ONCE_ERRORS)
    await turn.span_end(str(start["id"]), is_error=True)
    await turn.emit({"type": "session.error", "error": error_object(kind, "terminal")})
    await terminate(turn.session, turn.registry)
