"""What each scenario's turns look like."""

from __future__ import annotations

from simulator.engine.context import TurnShape
from simulator.engine.tools import BUILTIN_TOOLS

SHAPES = {
    "coding": TurnShape(),
    "mixed": TurnShape(
        steps=(1, 4),
        tools_per_step=(1, 3),
        tool_names=BUILTIN_TOOLS,
        action_weights=(0.6, 0.15, 0.1, 0.15),
        outcome_chance=0.25,
    ),
    "load": TurnShape(
        steps=(3, 6), tools_per_step=(1, 2), tool_names=("read", "grep", "glob"), think_secs=0.05
    ),
    "chaos": TurnShape(
        steps=(1, 4),
        tools_per_step=(1, 3),
        tool_names=BUILTIN_TOOLS,
        action_weights=(0.6, 0.15, 0.1, 0.15),
        error_chance=0.25,
        fail_at_once_chance=0.2,
        outcome_chance=0.1,
    ),
}


def shape_for(scenario: str) -> TurnShape:
    return SHAPES[scenario]
