"""The alert rules and Prometheus config of deploy/prometheus/, checked by Debian's promtool."""

from __future__ import annotations

import subprocess

import yaml

from tests.support.prometheus import system_tool
from tests.support.promql import ROOT, RULE_FILES, RULES_DIR, rules

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
# The alerts issue 10 asks for, each under its name in agents.yml.
REQUIRED_ALERTS = {
    "AgentsApprovalStuck", "AgentsSessionErrorRateHigh", "AgentsCostBurnRateHigh",
    "StreamerCheckpointLagHigh", "ConsumerLagHigh", "StreamerDown",
}  # fmt: skip


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    command = [system_tool("promtool"), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def test_promtool_check_rules_accepts_every_rule_file() -> None:
    """`promtool check rules` finds every rule of every file valid."""
    result = _promtool("check", "rules", *map(str, RULE_FILES))

    assert 0 == result.returncode, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules(RULES_DIR / 'agents.yml'))} rules found" in result.stdout


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    """`promtool test rules agents.test.yml`: each alert fires and stays quiet when it should."""
    result = _promtool("test", "rules", str(RULES_DIR / "agents.test.yml"))

    assert 0 == result.returncode, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_makes_it_fire() -> None:
    """Each alert of agents.yml is named by an `alert_rule_test` expecting it to fire."""
    tests = yaml.safe_load((RULES_DIR / "agents.test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])
             if case.get("exp_alerts")}  # fmt: skip
    quiet = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])
             if not case.get("exp_alerts")}  # fmt: skip
    alerts = {rule["alert"] for rule in rules(RULES_DIR / "agents.yml") if "alert" in rule}

    assert REQUIRED_ALERTS <= alerts
    assert alerts == fired
    assert alerts == quiet


def test_every_alert_has_for_severity_summary_description_and_runbook() -> None:
    """What a person paged needs: a `for:`, a severity, a summary, a description, a runbook."""
    incomplete = [
        rule["alert"]
        for rule in rules(RULES_DIR / "agents.yml")
        if "alert" in rule
        and not (
            rule.get("for")
            and rule.get("labels", {}).get("severity") in ("critical", "warning", "info")
            and {"summary", "description", "runbook"} <= set(rule.get("annotations", {}))
        )
    ]

    assert [] == incomplete


def test_promtool_check_config_accepts_the_compose_prometheus_config() -> None:
    """deploy/prometheus/prometheus.yml is valid and loads the rule files."""
    result = _promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))

    assert 0 == result.returncode, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
