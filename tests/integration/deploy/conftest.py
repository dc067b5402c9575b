"""Fixtures of the deploy tests: a real Prometheus (tests/support/prometheus.py)."""

from __future__ import annotations

from tests.support.prometheus import local_prometheus

__all__ = ["local_prometheus"]
