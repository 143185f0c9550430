"""cluster/monitoring/: the Prometheus rules pass `promtool check rules`, their unit tests
(`promtool test rules`: the MAPE alert fires on a synthetic series) pass, and every efp_*
metric the rules and the dashboard name is one the code exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

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
