"""Bad input: counted in `agents_metrics_problems_total{problem}` and logged once per kind."""

from __future__ import annotations

import structlog

from consumers.metrics.state import PartitionState
from consumers.metrics.vocab import PROBLEMS

log = structlog.get_logger(__name__)

PROBLEMS_METRIC = "agents_metrics_problems"
LOG_EVERY = 10_000  # after the first, every this many occurrences of a kind are logged again


class Problems:
    """Counts problems into a partition's state (so they are counted exactly once too) and logs
    the first occurrence of each kind, with its context, then every `LOG_EVERY`th."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}  # per process: occurrences per kind

    def report(self, state: PartitionState, problem: str, **context: object) -> None:
        """Count `problem` (one of `vocab.PROBLEMS`) in `state` and maybe log it."""
        assert problem in PROBLEMS, problem
        state.inc(PROBLEMS_METRIC, (problem,))
        count = self.seen.get(problem, 0) + 1
        self.seen[problem] = count
        if count == 1 or count % LOG_EVERY == 0:
            log.warning("metrics_bad_input", problem=problem, occurrences=count, **context)
