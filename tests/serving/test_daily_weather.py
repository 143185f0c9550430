"""The daily job's live run (no --as-of) fetches each city's weather forecast from the Open-Meteo
forecast API (a real server on loopback, tests/open_meteo_fake.py) before it forecasts, and
the forecasts use it; when the service keeps failing, one line is logged per city, the other
cities are not retried, and every city is still forecast, stored and exported with the failed
fetch in its notes. A run with --as-of fetches nothing.

The world's history is the tiny bundle's, moved forward so it ends now: a live run forecasts
tomorrow from it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pandas as pd
import pytest
from typer.testing import CliRunner

from data.settings import get_settings
from data.stores import open_forecasts, open_store
from ray_apps.cli import app
from training.inputs import NOTE_FORECAST

from serving_world import World, build_world


@pytest.fixture(scope="module")
def world(tiny_trained, tmp_path_factory: pytest.TempPathFactory) -> World:
    ends = pd.Timestamp.now(tz="UTC").floor("15min") - pd.Timedelta(minutes=15)
    return build_world(tiny_trained, tmp_path_factory.mktemp("daily_weather"), None,
                       shift=ends - pd.Timestamp(tiny_trained.data_end))


@pytest.fixture()
def cli(world: World, open_meteo, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {"EFP_DATA_DIR": str(world.settings.data_dir), "EFP_REGISTRY_URI": world.settings.registry_uri,
                       "EFP_ENVIRONMENT": "test", "EFP_WEATHER__FORECAST_URL": open_meteo.url("forecast"),
                       "EFP_WEATHER__BACKOFF_S": "0.01", "EFP_WEATHER__TIMEOUT_S": "2"}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(*args: str) -> dict:
    result = CliRunner().invoke(app, ["forecasts", "run", "--cities", "DEL,MUM", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_live_run_fetches_the_weather_forecast_first_and_forecasts_with_it(world: World, cli, open_meteo) -> None:
    open_meteo.live_forecast = True
    report = _run()
    queries = open_meteo.queries("forecast")
    assert len(queries) == 2 and {q["forecast_days"][0] for q in queries} == {"2"}
    assert len({q["latitude"][0] for q in queries}) == 2  # one call per city, at its own position
    for item in report["items"]:
        assert item["status"] == "stored" and item["blocks"] == 96, item
        assert item["weather"] == "fetched 48 rows" and NOTE_FORECAST in item["notes"], item
        stored = open_store(world.settings).read_weather(item["city"], kind="forecast")
        assert len(stored) >= 48 and stored["issued_at"].notna().all()
    assert len(pd.read_parquet(report["export"])) == 2 * 96
    assert report["cache"] == "in-process"  # no Redis configured: warm in this run only, and said so


def test_when_the_weather_service_fails_each_city_is_forecast_with_what_is_stored(world: World, cli, open_meteo,
                                                                                  caplog: pytest.LogCaptureFixture) -> None:
    open_meteo.failures = 100
    day = (pd.Timestamp.now(tz="Asia/Kolkata") + pd.Timedelta(days=1)).date()
    before = {city: len(open_forecasts(world.settings).list(city)) for city in ("DEL", "MUM")}
    with caplog.at_level(logging.WARNING, logger="efp.daily"):
        report = _run()
    assert len(open_meteo.calls) == 4  # the first city's attempts; the outage is not retried for the second
    lines = [r.getMessage() for r in caplog.records if r.name == "efp.daily"]
    assert [line.split(" not fetched")[0] for line in lines] == ["weather forecast for DEL", "weather forecast for MUM"]
    assert all("\n" not in line and "failed after 4 attempt(s): HTTP 503 busy" in line for line in lines)
    for item in report["items"]:
        assert item["status"] == "stored" and item["blocks"] == 96, item
        assert item["weather"].startswith("not fetched: weather API") and item["notes"][0].startswith("weather forecast not fetched")
    assert "not tried again" in report["items"][1]["notes"][0]
    assert {i["target_day"] for i in report["items"]} == {day.isoformat()} and report["export"]
    assert all(len(open_forecasts(world.settings).list(city)) >= before[city] for city in before)


def test_a_run_with_an_issue_time_fetches_nothing(world: World, cli, open_meteo) -> None:
    as_of = (pd.Timestamp.now(tz="Asia/Kolkata") - pd.Timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    report = _run("--as-of", as_of)
    assert not open_meteo.calls
    assert [(i["status"], i["weather"]) for i in report["items"]] == [("stored", None), ("stored", None)]
