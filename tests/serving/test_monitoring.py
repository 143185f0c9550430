"""Issue 12's acceptance, against real PostgreSQL: ten day-ahead forecasts issued as of 10:00
the day before by the daily job and stored; the monitor raises no forecast_error alert on
clean actuals and one for DEL after DEL's actuals of those days are re-ingested 30 % higher,
visible in `efp alerts list --json`, `GET /v1/alerts` and the metrics; resolved when the
clean actuals come back. Also: a forecast the HTTP service computes is stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from data.settings import get_settings
from data.stores import open_forecasts, open_store
from ray_apps.cli import app
from serving.api import create_api
from serving.wiring import local_state

from serving_world import World, build_world

DAYS = [date(2024, 4, 1) + timedelta(days=i) for i in range(10)]


@pytest.fixture(scope="module")
def world(tiny_trained, serving_db: str, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tiny_trained, tmp_path_factory.mktemp("monitoring"), serving_db)


@pytest.fixture()
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI configured as a user does it: EFP_* variables naming this world's stores."""
    for key, value in {"EFP_DATA_DIR": str(world.settings.data_dir), "EFP_REGISTRY_URI": world.settings.registry_uri,
                       "EFP_DATABASE_URL": world.settings.database_dsn, "EFP_ENVIRONMENT": "test"}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def efp(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _reingest(world: World, tmp: Path, factor: float) -> None:
    """DEL's load of the forecast days scaled by ``factor``, through `efp ingest csv` (an upsert)."""
    clean = open_store(world.settings).read_load("DEL", pd.Timestamp("2024-03-31T18:30Z"), pd.Timestamp("2024-04-10T18:30Z"))
    path = tmp / f"del_x{factor}.csv"
    frame = pd.DataFrame({"timestamp": clean["ts"].dt.tz_convert("Asia/Kolkata").dt.strftime("%Y-%m-%dT%H:%M:%S%z"),
                          "load_mw": clean["load_mw"] * factor})
    frame.to_csv(path, index=False)
    code, output = efp("ingest", "csv", str(path), "--city", "DEL", "--json")
    assert code == 0, output
    assert json.loads(output)["rejected"] == 0


def _monitor(config: Path) -> dict:
    code, output = efp("monitor", "--cities", "DEL,MUM", "--config", str(config), "--json")
    assert code == 0, output
    return json.loads(output)


def _raised(report: dict, kind: str) -> list[dict]:
    return [c for c in report["changes"] if c["change"] == "raised" and c["kind"] == kind]


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    """The shipped thresholds, but P10-P90 coverage of at least 0.3: the tiny bundle's bands are
    narrow (about 0.44 of clean actuals inside), a real model's are not."""
    shipped = (Path(__file__).resolve().parents[2] / "configs" / "monitoring.yaml").read_text()
    assert "min_coverage: 0.5" in shipped
    path = tmp_path / "monitoring.yaml"
    path.write_text(shipped.replace("min_coverage: 0.5", "min_coverage: 0.3"))
    return path


def test_stored_day_ahead_forecasts_raise_forecast_error_when_actuals_run_30pct_higher(world: World, cli, tmp_path: Path,
                                                                                         config: Path) -> None:
    for day in DAYS:
        code, output = efp("forecasts", "run", "--cities", "DEL,MUM", "--date", day.isoformat(),
                           "--as-of", f"{day - timedelta(days=1)}T10:00", "--json")
        assert code == 0, output
        report = json.loads(output)
        assert [i["status"] for i in report["items"]] == ["stored", "stored"] and report["export"]
    exported = pd.read_parquet(Path(report["export"]))
    assert set(exported["city"]) == {"DEL", "MUM"} and len(exported) == 2 * 96
    code, output = efp("forecasts", "list", "--city", "DEL", "--json")
    listed = json.loads(output)
    assert code == 0 and len(listed) == 10 and {r["source"] for r in listed} == {"scheduled"}
    assert {r["lead_hours"] for r in listed} == {14.0} and [r["target_day"] for r in listed][0] == "2024-04-10"
    code, again = efp("forecasts", "run", "--cities", "DEL", "--date", "2024-04-10", "--as-of", "2024-04-09T10:00", "--json")
    assert code == 0 and len(open_forecasts(world.settings).list("DEL")) == 10  # idempotent

    clean = _monitor(config)
    assert _raised(clean, "forecast_error") == [], clean["changes"]
    day_ahead = {(c["city"], s["lead_band"]): s for c in clean["cities"] for s in c["errors"]}
    assert day_ahead[("DEL", "day_ahead")]["blocks"] == 10 * 96 and day_ahead[("DEL", "day_ahead")]["mape_pct"] < 10

    _reingest(world, tmp_path, 1.3)
    high = _monitor(config)
    raised = _raised(high, "forecast_error")
    assert raised and {c["city"] for c in raised} == {"DEL"}
    mape = next(c for c in raised if c["condition"] == "mape:day_ahead")
    assert mape["value"] > 15 and mape["threshold"] == 10.0

    code, output = efp("alerts", "list", "--city", "DEL", "--json")
    alerts = [a for a in json.loads(output) if a["kind"] == "forecast_error"]
    assert code == 0 and {a["id"] for a in alerts} == {c["id"] for c in raised}
    assert set(alerts[0]) >= {"id", "city", "kind", "severity", "message", "value", "threshold", "created_at"}
    assert alerts[0]["resolved_at"] is None

    metrics = Path(high["metrics_file"]).read_text()
    assert 'efp_alerts_firing{city="DEL",kind="forecast_error"} ' + f"{float(len(raised))}" in metrics
    assert 'efp_alerts_firing{city="MUM",kind="forecast_error"} 0.0' in metrics
    assert 'efp_forecast_mape_ratio{city="DEL",lead_band="day_ahead"}' in metrics

    with TestClient(create_api(local_state(world.settings))) as client:
        viewer = world.headers("viewer")
        body = client.get("/v1/alerts", params={"city": "DEL"}, headers=viewer).json()
        assert {a["id"] for a in body if a["kind"] == "forecast_error"} == {c["id"] for c in raised}
        assert client.get("/v1/alerts").status_code == 401
        unknown = client.get("/v1/alerts", params={"city": "XXX"}, headers=viewer)
        assert unknown.status_code == 404 and "XXX" in unknown.text
        assert client.get("/v1/alerts", params={"limit": 0}, headers=viewer).status_code == 422
        deadline, line = time.monotonic() + 10, 'efp_alerts_firing{city="DEL",kind="forecast_error"} '
        while line not in client.get("/metrics").text and time.monotonic() < deadline:
            time.sleep(0.1)  # the first scrape starts the background read of the alert store
        assert f"{line}{float(len(raised))}" in client.get("/metrics").text

    assert _raised(_monitor(config), "forecast_error") == []  # raised once per condition, not on every run
    _reingest(world, tmp_path, 1 / 1.3)
    recovered = _monitor(config)
    resolved = {c["id"] for c in recovered["changes"] if c["change"] == "resolved" and c["kind"] == "forecast_error"}
    assert resolved == {c["id"] for c in raised}
    code, output = efp("alerts", "list", "--city", "DEL", "--json")
    assert all(a["resolved_at"] for a in json.loads(output) if a["kind"] == "forecast_error")


def test_a_forecast_the_service_computes_is_stored_as_served(world: World) -> None:
    state = local_state(world.settings)
    with TestClient(create_api(state)) as client:
        request = {"city": "MUM", "start": "2024-04-12T00:00:00", "as_of": "2024-04-11T10:00:00", "quantiles": [0.5]}
        response = client.post("/v1/forecast", json=request, headers=world.headers("forecaster"))
        assert response.status_code == 200, response.text
        state.service.recorder.flush()
    stored = [s for s in open_forecasts(world.settings).list("MUM") if s.target_day == date(2024, 4, 12)]
    assert [(s.source, s.blocks, s.lead_hours, s.degraded) for s in stored] == [("served", 96, 14.0, False)]
    blocks = open_forecasts(world.settings).read("MUM", pd.Timestamp("2024-04-11T18:30Z"), pd.Timestamp("2024-04-11T18:45Z"))
    assert blocks["p10"].iloc[0] <= blocks["p50"].iloc[0] <= blocks["p90"].iloc[0]  # every quantile kept, not only the one asked
    assert 'efp_forecasts_recorded_total{result="stored"} 1.0' in state.metrics.exposition().decode()


def test_bad_input_to_the_new_commands_is_one_line_and_non_zero(world: World, cli) -> None:
    for args, needle in ((("forecasts", "list", "--city", "XXX"), "XXX"), (("monitor", "--cities", "XXX"), "XXX"),
                         (("alerts", "list", "--city", "XXX"), "XXX"),
                         (("forecasts", "run", "--cities", "DEL", "--date", "2024-04-10", "--as-of", "2099-01-01T10:00"), "as_of")):
        code, output = efp(*args)
        assert code != 0 and needle in output and "Traceback" not in output, (args, output)
