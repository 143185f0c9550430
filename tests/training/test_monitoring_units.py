"""The monitor's parts without stores: PSI, the season-aware reference window, the thresholds
file's one error shape, the alert lifecycle on the file store and the webhook on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from data.stores import open_metadata
from training.monitoring.alerts import Finding, reconcile
from training.monitoring.config import MonitoringConfigError, load_monitoring_config
from training.monitoring.drift import psi, reference_window


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(1000, 50, 5000)
    assert psi(reference, rng.normal(1000, 50, 2000)) < 0.02
    assert psi(reference, rng.normal(1000, 50, 2000) * 1.3) > 1.0
    assert np.isnan(psi(np.array([]), reference))


def test_the_reference_is_the_same_months_of_the_training_window_else_recent_weeks() -> None:
    """Two years of seasonal temperature: late December against the Decembers the model saw is no
    drift, against the whole year it would be."""
    stamps = pd.date_range("2022-01-01", "2023-12-31T18:30", freq="h", tz="UTC", inclusive="left")  # ends with Delhi's year
    rng = np.random.default_rng(1)
    seasonal = 25 - 12 * np.cos(2 * np.pi * stamps.dayofyear / 365) + 4 * np.sin(2 * np.pi * stamps.hour / 24)
    warm = pd.DataFrame({"ts": stamps, "temperature_c": seasonal + rng.normal(0, 1.5, len(stamps))})
    recent_start = pd.Timestamp("2023-12-15", tz="UTC")
    recent = warm.loc[warm["ts"] >= recent_start, "temperature_c"].to_numpy()
    values, kind = reference_window(warm, "temperature_c", recent_start, stamps[0], recent_start, "Asia/Kolkata", 4, 96)
    assert kind == "training months" and 45 * 24 <= len(values) < 47 * 24  # December 2022 and December 1-14, 2023
    yearly = warm.loc[warm["ts"] < recent_start, "temperature_c"].to_numpy()
    assert psi(values, recent) < 0.25 < psi(yearly, recent)
    values, kind = reference_window(warm, "temperature_c", recent_start, stamps[0], pd.Timestamp("2022-06-01", tz="UTC"),
                                    "Asia/Kolkata", 4, 96)
    assert kind == "recent weeks" and len(values) == 4 * 7 * 24


def test_a_bad_thresholds_file_is_one_line_naming_file_line_and_field(tmp_path) -> None:
    assert load_monitoring_config().forecast_error.max_mape_pct == 10.0  # the shipped file validates
    path = tmp_path / "monitoring.yaml"
    path.write_text("forecast_error:\n  max_mape_pct: -1\n")
    with pytest.raises(MonitoringConfigError, match=r"monitoring.yaml, line 2: .*max_mape_pct"):
        load_monitoring_config(path)
    path.write_text("lead_bands:\n  - {name: x, min_hours: 5, max_hours: 1}\n")
    with pytest.raises(MonitoringConfigError, match="max_hours must be above min_hours"):
        load_monitoring_config(path)
    path.write_text("drift:\n  max_psy: 0.2\n")
    with pytest.raises(MonitoringConfigError, match="max_psy"):
        load_monitoring_config(path)


class Receiver(BaseHTTPRequestHandler):
    bodies: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        type(self).bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _finding(breached: bool, value: float) -> Finding:
    return Finding(kind="forecast_error", city="DEL", condition="mape:day_ahead", value=value, threshold=10.0,
                   breached=breached, message=f"MAPE {value} %")


def test_an_alert_is_raised_once_resolved_when_it_clears_and_posted_to_the_webhook(settings) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    metadata = open_metadata(settings)
    try:
        (raised,) = reconcile(metadata, [_finding(True, 25.0)], webhook_url=url)
        assert reconcile(metadata, [_finding(True, 26.0)], webhook_url=url) == []  # still open: not raised again
        assert reconcile(metadata, [], webhook_url=url) == []  # not checked (no data): left open
        (resolved,) = reconcile(metadata, [_finding(False, 4.0)], webhook_url=url)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert (raised.change, resolved.change, raised.id) == ("raised", "resolved", resolved.id)
    assert [b["alerts"][0]["change"] for b in Receiver.bodies] == ["raised", "resolved"]
    assert metadata.alerts(open_only=True) == [] and metadata.alerts()[0]["details"]["value"] == 25.0
