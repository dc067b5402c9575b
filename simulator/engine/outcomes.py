"""Outcome evaluation cycles after `user.define_outcome` (spec §4.5)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from simulator.engine.context import TurnContext, TurnEndedError


async def evaluate(
    turn: TurnContext, outcome: dict[str, Any], *, revise: Callable[[], Awaitable[None]]
) -> None:
    """Grade the work; `needs_revision` sends the agent back to work (`revise`), up to
    max_iterations."""

    outcome_id = outcome["outcome_id"]
    limit = int(outcome.get("max_iterations") or 3)
    record = {"type": "outcome_evaluation", "outcome_id": outcome_id, "iteration": 0}
    record |= {"description": outcome["description"], "result": "pending"}
    turn.session.outcome_evaluations.append(record)
    for iteration in range(limit):
        ids = {"outcome_id": outcome_id, "iteration": iteration}
        start = await turn.emit({"type": "span.outcome_evaluation_start", **ids})
        await turn.emit({"type": "span.outcome_evaluation_ongoing", **ids})
        await turn.think()
        result = _judge(turn, iteration, limit)
        await _end(turn, start["id"], ids, result, record)
        if result != "needs_revision":
            return
        try:
            await revise()
        except TurnEndedError as ended:
            interrupted = ended.stop_reason == {"type": "end_turn"}
            await _end(turn, start["id"], ids, "interrupted" if interrupted else "failed", record)
            raise


def _judge(turn: TurnContext, iteration: int, limit: int) -> str:
    if turn.rng.random() < 0.6:
        return "satisfied"
    return "max_iterations_reached" if iteration == limit - 1 else "needs_revision"


async def _end(
    turn: TurnContext, start_id: str, ids: dict[str, Any], result: str, record: dict[str, Any]
) -> None:
    usage = turn.model_usage()
    turn.session.usage.add(usage)
    explanation = f"The work was judged {result.replace('_', ' ')} against the rubric."
    end = {"type": "span.outcome_evaluation_end", "outcome_evaluation_start_id": start_id, **ids}
    event = await turn.emit(end | {"result": result, "explanation": explanation, "usage": usage})
    record |= {"iteration": ids["iteration"], "result": result, "explanation": explanation}
    if result != "needs_revision":
        record["completed_at"] = event["processed_at"]
