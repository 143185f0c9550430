"""cluster/monitoring/: the Prometheus rules pass `promtool check rules`, their unit tests
(`promtool test rules`: the MAPE alert fires on a synthetic series) pass, and every efp_*
metric the rules and the dashboard name is one the code exports; the PodMonitor scrapes every
Ray pod's metrics export port under those names."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from serving.alert_metrics import AlertsCollector
from serving.metrics import ServiceMetrics
from training.monitoring.metrics import MonitorMetrics

MONITORING = Path(__file__).resolve().parents[2] / "cluster" / "monitoring"
METRIC = re.compile(r"\b(efp_[a-z0-9_]+)")


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make test` installs it (scripts/ensure-services.sh: Debian package prometheus)"
    return found


@pytest.mark.parametrize("args", [("check", "rules", "rules.yml"), ("test", "rules", "rules_test.yml")], ids=" ".join)
def test_promtool_accepts_the_rules_and_their_unit_tests(args: tuple[str, ...]) -> None:
    result = subprocess.run([_promtool(), *args], cwd=MONITORING, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _exported() -> set[str]:
    service = ServiceMetrics()
    service.registry.register(AlertsCollector(lambda: []))
    names = set()
    for registry in (service.registry, MonitorMetrics().registry):
        for family in registry.collect():
            names.add(family.name)
            names.update(sample.name for sample in family.samples)
    # Histograms and counters are queried by their series names (_bucket, _total) even before a sample exists.
    return names | {f"{n}_total" for n in names} | {f"{n}_bucket" for n in names}


def test_every_metric_the_rules_and_dashboard_name_is_exported() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    named = set(METRIC.findall((MONITORING / "rules.yml").read_text())) | {m for e in exprs for m in METRIC.findall(e)}
    assert named and named <= _exported(), sorted(named - _exported())


def test_the_podmonitor_scrapes_every_ray_pod_and_keeps_the_rules_names() -> None:
    """cluster/monitoring/podmonitor.yaml scrapes Ray's metrics export port (where every Serve
    replica's efp_* series are, serving/metrics.py) on every head and worker pod of the
    RayService and the RayCluster, and renames ray_efp_* back to the efp_* the rules query."""
    from kuberay_schema import all_manifests, ray_cluster_specs

    monitor = yaml.safe_load((MONITORING / "podmonitor.yaml").read_text())
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "PodMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert set(endpoint) == {"port", "path", "interval", "metricRelabelings"}
    pods = 0
    for path, doc in all_manifests():
        if doc["kind"] not in ("RayCluster", "RayService"):
            continue  # RayJobs are short-lived: their results go to the stores, not to metrics
        for cluster in ray_cluster_specs(doc):
            for group in [cluster["headGroupSpec"], *cluster.get("workerGroupSpecs", [])]:
                template = group["template"]
                labels = {**template["metadata"]["labels"], "ray.io/is-ray-node": "yes"}  # KubeRay adds the latter
                assert selector.items() <= labels.items(), f"{path.name}: a Ray pod the PodMonitor does not select"
                ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0].get("ports", [])}
                assert ports.get(endpoint["port"]) == 8080, f"{path.name}: no port {endpoint['port']} (8080, Ray's metrics export)"
                pods += 1
    assert pods >= 4
    (rule,) = endpoint["metricRelabelings"]
    assert rule["sourceLabels"] == ["__name__"] and rule["targetLabel"] == "__name__" and rule["action"] == "replace"
    rename = re.compile(rule["regex"])  # Prometheus anchors the regex: fullmatch
    replacement = rule["replacement"].replace("$1", r"\1")
    exported = {n for n in _exported() if n.startswith("efp_http") or n.startswith("efp_forecast_cache")}
    assert exported and all(rename.fullmatch(f"ray_{n}").expand(replacement) == n for n in exported)
    assert rename.fullmatch("ray_serve_deployment_queued_queries") is None  # Ray's own names stay
