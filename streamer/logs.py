"""structlog set up once per process: JSON lines on stderr, ISO UTC timestamps, context vars.

Components bind context with `structlog.contextvars.bound_contextvars(session_id=...)` so every
line logged inside carries it. Event names are snake_case verbs:

    log.info("stream_reconnected", attempt=3, delay_ms=800)
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog


def _orjson_dumps(event: Any, **_kwargs: Any) -> str:
    return orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS).decode()


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the moment of writing, never to a stream bound earlier.

    Loggers outlive the stream they were configured with: pytest swaps and closes `sys.stderr`
    around each test, a supervisor may redirect it. Binding `sys.stderr` at configure time makes
    every later line fail with "I/O operation on closed file".
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stdlib handler, writing to the current `sys.stderr` (see `_CurrentStderr`)."""

    def __init__(self) -> None:
        super().__init__(_CurrentStderr())


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    """Configure structlog and the stdlib root logger (aiokafka and aiohttp log through it)."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        # Not cached: a cached logger keeps the processors of its first use, so a later
        # `structlog.testing.capture_logs()` (or a reconfiguration) would never see its lines.
        # Log calls are per incident, not per event, so the lookup is cheap enough.
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING))  # third-party libraries: warnings and up
