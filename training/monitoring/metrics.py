"""The monitor's Prometheus gauges: forecast error and coverage per city and lead band, drift
scores, data and model age, alerts firing.

The monitor is a batch job, so nothing scrapes it while it runs: its registry is written
as a textfile (the node-exporter textfile collector's format) and, when a Pushgateway is
configured, pushed there. The service's ``/metrics`` reports the alerts firing itself
(``serving.alert_metrics``), read from the alert store at scrape time.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest, push_to_gateway

from training.monitoring.alerts import ALERT_KINDS


class MonitorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        band = ["city", "lead_band"]
        self.mape = Gauge("efp_forecast_mape_ratio", "Rolling MAPE of stored forecasts against actuals (0.05 = 5 %)",
                          band, registry=self.registry)
        self.within = Gauge("efp_forecast_within_5pct_ratio", "Share of blocks within 5 % of actual", band, registry=self.registry)
        self.bias = Gauge("efp_forecast_bias_ratio", "Mean (forecast - actual) over mean actual", band, registry=self.registry)
        self.coverage = Gauge("efp_forecast_coverage_ratio", "Share of actuals inside P10-P90 (nominal 0.8)", band,
                              registry=self.registry)
        self.blocks = Gauge("efp_forecast_scored_blocks", "Forecast blocks scored in the rolling window", band,
                            registry=self.registry)
        self.psi = Gauge("efp_drift_psi", "Population stability index of the recent window against the reference",
                         ["city", "variable"], registry=self.registry)
        self.data_age = Gauge("efp_data_age_seconds", "Age of the newest load block", ["city"], registry=self.registry)
        self.model_age = Gauge("efp_model_age_seconds", "Time since the production model's training data ended", ["city"],
                               registry=self.registry)
        self.firing = Gauge("efp_alerts_firing", "Open alerts by city and kind", ["city", "kind"], registry=self.registry)
        self.last_run = Gauge("efp_monitor_last_run_timestamp_seconds", "When the monitor last finished", registry=self.registry)

    def set_firing(self, open_alerts: list[dict], cities: list[str]) -> None:
        """Every (city, kind) gets a value, 0 included, so a resolved alert shows as 0 rather than vanishing."""
        counts = {(city, kind): 0 for city in cities for kind in ALERT_KINDS}
        for alert in open_alerts:
            key = (alert.get("city") or "", alert["kind"])
            counts[key] = counts.get(key, 0) + 1
        for (city, kind), count in counts.items():
            self.firing.labels(city, kind).set(count)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def write_textfile(self, path: Path) -> None:
        """Atomically, so a collector never reads half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        temp.write_bytes(self.exposition())
        os.replace(temp, path)

    def push(self, url: str) -> None:
        push_to_gateway(url, job="efp_monitor", registry=self.registry, timeout=10)
