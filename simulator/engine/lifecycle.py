"""A session's engine: the one task that processes its inbox and plays its scenario.

Idle, it waits for client events. A `user.message` starts a turn. With an autopilot (sessions
created by the simulator itself), a simulated user sends the next message after each turn, for
a seeded number of turns, then leaves the session idle or terminates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from typing import Any

from simulator import intake
from simulator.engine import failures
from simulator.engine.context import TurnShape
from simulator.engine.lifecycle_events import terminate
from simulator.engine.pacing import Pacer
from simulator.engine.turns import Turn
from simulator.registry import Registry
from simulator.session import SimSession

_PROMPTS = (
    "The CI job fails on test_reconnect; please find out why and fix it.",
    "Add a --dry-run flag to the deploy script.",
    "Clean up the build directory and re-run the packaging step.",
    "Check whether our docs link to the right API version.",
)


@dataclass(slots=True, frozen=True)
class Autopilot:
    """The simulated user: how many turns it drives and how the session ends."""

    turns: int
    terminate_chance: float = 0.3
    think_secs: float = 2.0


class SessionEngine:
    """Owns nothing but the coroutine `run`; the simulator owns the task running it."""

    def __init__(
        self,
        session: SimSession,
        *,
        registry: Registry,
        pacer: Pacer,
        rng: random.Random,
        shape: TurnShape,
        autopilot: Autopilot | None,
    ) -> None:
        self.session = session
        self.registry = registry
        self.pacer = pacer
        self.rng = rng
        self.shape = shape
        self.autopilot = autopilot
        self.turns_done = 0
        # Its own draws, so that the sessions which do not fail at once play as they did before.
        self._fate = random.Random(f"{session.id}:fate")  # noqa: S311 - simulation

    async def run(self) -> None:
        if self.autopilot is not None and self.autopilot.turns > 0:
            self.user_says()
        else:
            self.session.autopilot_done = True
        while self.session.status != "terminated" and not self.session.deleted:
            event = await self.next_event()
            if event is None:
                self.session.autopilot_done = True
                if self.rng.random() < self.autopilot_terminate_chance():
                    await terminate(self.session, self.registry)
                    return
                self.autopilot = None  # the user left; the session now waits for clients
                continue
            await self.handle(event)

    async def next_event(self) -> dict[str, Any] | None:
        """The next client event; the autopilot speaks when nothing arrives in its think time."""
        inbox = self.session.inbox
        if self.autopilot is None or len(inbox):
            return await inbox.get()
        if self.turns_done >= self.autopilot.turns:
            return None
        wait = self.autopilot.think_secs * (0.5 + self.rng.random()) / self.pacer.speed
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(inbox.get(), timeout=wait)
        self.user_says()
        return await inbox.get()

    def user_says(self) -> None:
        """The simulated user's next input: mostly a message, sometimes an outcome to meet."""
        event: dict[str, Any]
        if self.rng.random() < self.shape.outcome_chance:
            rubric = {"type": "text", "content": "All tests pass and the diff is minimal."}
            event = {"type": "user.define_outcome", "description": self.rng.choice(_PROMPTS)}
            event |= {"rubric": rubric, "max_iterations": 3}
        else:
            content = [{"type": "text", "text": self.rng.choice(_PROMPTS)}]
            event = {"type": "user.message", "content": content}
        intake.accept(self.registry, self.session, [event])

    async def handle(self, event: dict[str, Any]) -> None:
        turn = Turn(self.session, self.registry, self.pacer, self.rng, self.shape)
        kind = event["type"]
        if kind in intake.QUEUED:
            await turn.process(event)
        if kind == "user.message":
            self.turns_done += 1
            if self.fails_at_once():
                await failures.fail_at_once(turn)
                return
            await turn.run()
        elif kind == "user.define_outcome":
            self.turns_done += 1
            await turn.run(outcome=event)

    def fails_at_once(self) -> bool:
        """Whether the simulated user's first message meets a terminal failure (scenarios with
        a `fail_at_once_chance`)."""
        first = self.turns_done == 1 and self.autopilot is not None
        return first and self._fate.random() < self.shape.fail_at_once_chance

    def autopilot_terminate_chance(self) -> float:
        return self.autopilot.terminate_chance if self.autopilot is not None else 0.0
