"""deploy/compose.yaml (no Docker engine here): it parses, and what it mounts and scrapes exists.

Prometheus scrapes the services by the names and ports compose gives them, Grafana gets the
provisioning and the generated dashboards, and every file a service mounts is in the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.promql import ROOT

DEPLOY = ROOT / "deploy"


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Host path (absolute) -> container path of a service's bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            found[str((DEPLOY / source).resolve())] = target
    return found


def test_every_bind_mounted_file_exists() -> None:
    """Each `./...` volume of every service names a file or directory of the repository."""
    services = _compose()["services"]

    missing = [path for s in services.values() for path in _mounts(s) if not Path(path).exists()]

    assert [] == missing


def test_prometheus_scrapes_each_service_on_the_port_it_serves() -> None:
    """Every scrape target of prometheus.yml is `service:port` with that service's --http-port;
    the streamer, the approval bot and the metrics consumer are scraped under their job names."""
    services = _compose()["services"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target: job["job_name"]
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }

    def served(target: str) -> str:
        name = target.partition(":")[0]
        command = services.get(name, {}).get("command", [])
        return (
            f"{name}:{command[command.index('--http-port') + 1]}"
            if "--http-port" in command
            else ""
        )

    assert {target: target for target in targets} == {target: served(target) for target in targets}
    assert {"agents-streamer", "agents-approvals", "agents-metrics"} <= set(targets.values())
    assert all(job.startswith("agents-") for job in targets.values())


def test_the_metrics_consumer_runs_in_compose() -> None:
    """`streamer consume metrics` is a service, reachable by Prometheus (not only loopback)."""
    metrics = _compose()["services"]["metrics"]

    assert ["consume", "metrics"] == metrics["command"][:2]
    assert "0.0.0.0" == metrics["environment"]["CONSUMER_HTTP_HOST"]


def test_prometheus_gets_the_rules_its_config_loads() -> None:
    """The rules directory is mounted where prometheus.yml's `rule_files` point."""
    prometheus = _compose()["services"]["prometheus"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    mounted = _mounts(prometheus)

    in_container = {str(Path(mounted[str(DEPLOY / "prometheus" / "prometheus.yml")]).parent / f)
                    for f in config["rule_files"]}  # fmt: skip

    assert {"/etc/prometheus/rules/agents.yml"} == in_container
    assert "/etc/prometheus/rules" == mounted[str(DEPLOY / "prometheus" / "rules")]


def test_grafana_is_provisioned_with_prometheus_and_the_generated_dashboards() -> None:
    """Grafana mounts provisioning/ and dashboards/; the provider reads where they are mounted."""
    grafana = _compose()["services"]["grafana"]
    mounted = _mounts(grafana)
    grafana_dir = DEPLOY / "grafana"
    provider = yaml.safe_load((grafana_dir / "provisioning/dashboards/agents.yml").read_text())
    source = yaml.safe_load((grafana_dir / "provisioning/datasources/prometheus.yml").read_text())

    assert "/etc/grafana/provisioning" == mounted[str(grafana_dir / "provisioning")]
    assert provider["providers"][0]["options"]["path"] == mounted[str(grafana_dir / "dashboards")]
    assert "http://prometheus:9090" == source["datasources"][0]["url"]
    assert ["prometheus"] == grafana["depends_on"]


def test_two_streamers_share_the_sessions_as_a_fleet() -> None:
    """Two streamer services with the fleet enabled, one transactional-id prefix, both scraped,
    and no host port published twice."""
    services = _compose()["services"]
    streamers = [services["streamer"], services["streamer-2"]]
    host_ports = [p.rsplit(":", 1)[0] for s in services.values() for p in s.get("ports", [])]

    assert [("true", "agents-streamer")] * 2 == [
        (
            s["environment"]["STREAMER_FLEET_ENABLED"],
            s["environment"]["STREAMER_SINK_TRANSACTIONAL_ID"],
        )
        for s in streamers
    ]
    assert sorted(set(host_ports)) == sorted(host_ports)


def test_k8s_streamer_is_a_deployment_with_a_disruption_budget() -> None:
    """deploy/k8s/streamer.yaml: a Deployment of several replicas with the fleet enabled, a
    shared transactional-id prefix, readiness on /readyz, and a PodDisruptionBudget over it."""
    docs = {
        d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "k8s" / "streamer.yaml").read_text())
    }
    pod = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in pod["env"]}

    assert docs["Deployment"]["spec"]["replicas"] > 1
    assert ("true", "agents-streamer") == (
        env["STREAMER_FLEET_ENABLED"],
        env["STREAMER_SINK_TRANSACTIONAL_ID"],
    )
    assert "/readyz" == pod["readinessProbe"]["httpGet"]["path"]
    assert {"maxUnavailable": 1} == {
        k: v for k, v in docs["PodDisruptionBudget"]["spec"].items() if k != "selector"
    }
