"""The helpers the deploy tests rely on: PromQL rewriting and the system-tool check."""

from __future__ import annotations

import pytest

from tests.support.prometheus import system_tool
from tests.support.promql import RULE_FILES, as_bool, instantiate, rule_expressions


def test_as_bool_makes_comparisons_bool_outside_matchers_and_strings() -> None:
    """`>`/`==`/... become `> bool`; `!=`, `=~` in label matchers and quoted text are left."""
    expr = 'max by (c) (x{a!="b", d=~"e>f"}) >= 1 and rate(y[5m]) < 2 or z == bool 0'

    assert (
        'max by (c) (x{a!="b", d=~"e>f"}) >= bool 1 and rate(y[5m]) < bool 2 or z == bool 0'
        == as_bool(expr)
    )


def test_instantiate_replaces_grafana_intervals_and_rejects_unknown_variables() -> None:
    """`$__rate_interval` and `$__range` get concrete windows; any other `$var` is an error."""
    assert "rate(x[15s]) + increase(y[5m])" == instantiate(
        "rate(x[$__rate_interval]) + increase(y[$__range])"
    )
    with pytest.raises(ValueError, match="unknown template variable"):
        instantiate("rate(x[$window])")


def test_every_alert_expression_is_rewritten_with_bool() -> None:
    """Each alert of the shipped rules compares, so each rewritten expression holds `bool`."""
    rewritten = [e for path in RULE_FILES for e in rule_expressions(path)]

    assert rewritten
    assert [] == [e.source for e in rewritten if " bool " not in e.expr]


def test_a_missing_system_tool_fails_loudly_naming_make_system_deps() -> None:
    """No skip: the test fails and says how to install the tool."""
    with pytest.raises(pytest.fail.Exception, match="make system-deps"):
        system_tool("prometheus-that-is-not-installed")
