"""The PromQL that ships: every expression of the generated dashboards and of the alert rules.

Tests take the expressions from the committed files (never from a list kept by hand), put concrete
windows in place of Grafana's variables, and, for alerts, make each threshold comparison `bool`:
a healthy system fires no alert, so `X > 900` returns nothing, while `X > bool 900` returns a 0/1
sample for every series the alert watches, which shows its metric names and labels are right.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
RULE_FILES = sorted(p for p in RULES_DIR.glob("*.yml") if not p.name.endswith(".test.yml"))

# What Grafana puts in place of its interval variables, for a test scraping every second.
GRAFANA_VARIABLES = {"$__rate_interval": "15s", "$__interval": "5s", "$__range": "5m"}
_COMPARISON = re.compile(r"==|!=|>=|<=|>|<")
_BOOL = re.compile(r"\s*bool\b")


@dataclass(frozen=True, slots=True)
class Expression:
    """One shipped PromQL expression: where it comes from, and its text."""

    source: str
    expr: str


def load_builder() -> ModuleType:
    """deploy/grafana/dashboards.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "agents_dashboards", GRAFANA_DIR / "dashboards.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for panel in panels:
        found.append(panel)
        found += _panels(panel.get("panels") or [])  # collapsed rows hold their panels
    return found


def dashboard_expressions(path: Path) -> list[Expression]:
    """Every target's `expr` of a dashboard JSON file, with its panel's title."""
    dashboard = json.loads(path.read_text())
    return [
        Expression(f"{path.name}: {panel['title']} [{target.get('refId', '?')}]", target["expr"])
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets") or []
        if target.get("expr")
    ]


def rules(path: Path) -> list[dict[str, Any]]:
    """Every rule (alerting or recording) of a Prometheus rule file."""
    groups = yaml.safe_load(path.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def rule_expressions(path: Path) -> list[Expression]:
    """Every rule's `expr`, alerts' with their comparisons made `bool` (see the module doc)."""
    return [
        Expression(
            f"{path.name}: {rule.get('alert') or rule['record']}",
            as_bool(rule["expr"]) if "alert" in rule else rule["expr"],
        )
        for rule in rules(path)
    ]


def shipped_expressions() -> list[Expression]:
    """The dashboards' and the rules' expressions, ready to evaluate."""
    found = [
        e for path in sorted(DASHBOARDS_DIR.glob("*.json")) for e in dashboard_expressions(path)
    ]
    found += [e for path in RULE_FILES for e in rule_expressions(path)]
    return [Expression(e.source, instantiate(e.expr)) for e in found]


def instantiate(expr: str) -> str:
    """`expr` with Grafana's interval variables replaced by concrete windows."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    if "$" in expr:
        raise ValueError(f"unknown template variable in {expr!r}")
    return expr


def as_bool(expr: str) -> str:
    """`expr` with every comparison operator outside label matchers, ranges and strings `bool`."""
    out, depth, quote, index = [], 0, "", 0
    while index < len(expr):
        char = expr[index]
        if quote:
            quote = "" if char == quote and expr[index - 1] != "\\" else quote
        elif char in "\"'`":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        elif depth == 0 and (match := _COMPARISON.match(expr, index)):
            index = match.end()
            out.append(match.group() if _BOOL.match(expr, index) else f"{match.group()} bool")
            continue
        out.append(char)
        index += 1
    return "".join(out)
