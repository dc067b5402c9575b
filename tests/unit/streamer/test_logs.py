"""Logging set-up: loggers follow the configuration and the stream of the moment."""

from __future__ import annotations

import io
import logging
import sys

import pytest
import structlog
from structlog.testing import capture_logs

from streamer.logs import configure_logging

log = structlog.get_logger(__name__)


def test_a_logger_used_before_a_reconfiguration_follows_the_new_one() -> None:
    """Configured twice (two CLI mains in one process), an old logger is still captured."""
    configure_logging()
    log.info("before")
    configure_logging()
    with capture_logs() as logs:
        log.warning("after")
    assert ["after"] == [entry["event"] for entry in logs]


def test_lines_go_to_the_stderr_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stderr replaced (and the old one closed) after configuring gets the next lines."""
    old = io.StringIO()
    monkeypatch.setattr(sys, "stderr", old)
    configure_logging()
    old.close()
    new = io.StringIO()
    monkeypatch.setattr(sys, "stderr", new)
    log.warning("still_written")
    logging.getLogger("aiokafka").warning("stdlib_too")
    assert '"still_written"' in new.getvalue()
    assert '"stdlib_too"' in new.getvalue()
