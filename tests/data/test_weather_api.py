"""`efp weather fetch` against a real HTTP server on loopback serving Open-Meteo's documented
JSON (tests/open_meteo_fake.py): the forecast stored as kind=forecast with issued_at, the
archive (`--archive --start --end`) as kind=observed; 5xx retried with backoff; a 4xx and a
server that is not there are one-line errors with a non-zero exit."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import date, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from data.settings import get_settings
from data.stores import open_store
from ray_apps.cli import app


@pytest.fixture()
def configure(settings, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    def apply(forecast_url: str, archive_url: str | None = None) -> None:
        monkeypatch.setenv("EFP_DATA_DIR", str(settings.data_dir))
        monkeypatch.setenv("EFP_ENVIRONMENT", "test")
        monkeypatch.setenv("EFP_WEATHER__FORECAST_URL", forecast_url)
        monkeypatch.setenv("EFP_WEATHER__ARCHIVE_URL", archive_url or forecast_url)
        monkeypatch.setenv("EFP_WEATHER__BACKOFF_S", "0.01")
        monkeypatch.setenv("EFP_WEATHER__TIMEOUT_S", "2")
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: nothing listens there


def test_fetch_stores_a_forecast_with_its_issue_time_after_retrying_a_busy_server(open_meteo, configure, settings) -> None:
    configure(open_meteo.url("forecast"))
    open_meteo.failures = 2
    result = CliRunner().invoke(app, ["weather", "fetch", "--city", "del", "--days", "3", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["input_rows"] == 24 and summary["inserted"] == 24 and summary["rejected"] == 0
    assert len(open_meteo.calls) == 3
    query = open_meteo.queries("forecast")[-1]
    assert query["latitude"] and query["forecast_days"] == ["3"] and query["timezone"] == ["Asia/Kolkata"]
    assert "temperature_2m" in query["hourly"][0]
    stored = open_store(settings).read_weather("DEL", kind="forecast")
    assert len(stored) == 24 and stored["issued_at"].notna().all()
    assert str(stored["ts"].iloc[0]) == "2024-04-30 18:30:00+00:00"  # 00:00 in Delhi
    assert open_store(settings).read_weather("DEL").empty  # not mixed with observations


def test_a_server_that_keeps_failing_or_refuses_is_one_line_and_non_zero(open_meteo, configure) -> None:
    configure(open_meteo.url("forecast"))
    open_meteo.failures = 10
    result = CliRunner().invoke(app, ["weather", "fetch", "--city", "DEL"])
    assert result.exit_code != 0 and "failed after 4 attempt(s): HTTP 503 busy" in result.output
    assert len(open_meteo.calls) == 4 and "Traceback" not in result.output


def test_an_unreachable_service_and_bad_options_are_one_line_errors(configure) -> None:
    port = _closed_port()
    configure(f"http://127.0.0.1:{port}/v1/forecast")
    result = CliRunner().invoke(app, ["weather", "fetch", "--city", "DEL"])
    assert result.exit_code != 0 and "unreachable" in result.output and f"127.0.0.1:{port}" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert CliRunner().invoke(app, ["weather", "fetch", "--city", "XXX"]).exit_code != 0
    bad_days = CliRunner().invoke(app, ["weather", "fetch", "--city", "DEL", "--days", "30"])
    assert bad_days.exit_code == 2 and "--days" in bad_days.output


def test_archive_stores_observed_weather_of_the_asked_days_after_retrying(open_meteo, configure, settings) -> None:
    configure(open_meteo.url("forecast"), open_meteo.url("archive"))
    open_meteo.failures = 1
    result = CliRunner().invoke(app, ["weather", "fetch", "--city", "MUM", "--archive", "--start", "2024-03-01",
                                      "--end", "2024-03-03", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["input_rows"] == 72 and summary["inserted"] == 72 and summary["rejected"] == 0
    query = open_meteo.queries("archive")[-1]
    assert len(open_meteo.queries("archive")) == 2 and not open_meteo.queries("forecast")
    assert query["start_date"] == ["2024-03-01"] and query["end_date"] == ["2024-03-03"]
    assert query["timezone"] == ["Asia/Kolkata"] and "temperature_2m" in query["hourly"][0] and "forecast_days" not in query
    observed = open_store(settings).read_weather("MUM")
    assert len(observed) == 72 and set(observed["kind"]) == {"observed"}
    assert observed["ts"].min() == pd.Timestamp("2024-02-29T18:30Z") and observed["ts"].max() == pd.Timestamp("2024-03-03T17:30Z")
    assert open_store(settings).read_weather("MUM", kind="forecast").empty
    again = CliRunner().invoke(app, ["weather", "fetch", "--city", "MUM", "--archive", "--start", "2024-03-01",
                                     "--end", "2024-03-03", "--json"])
    assert json.loads(again.output)["unchanged"] == 72  # a re-fetch is an upsert


def test_archive_errors_are_one_line_and_name_what_is_wrong(open_meteo, configure) -> None:
    port = _closed_port()
    configure(open_meteo.url("forecast"), f"http://127.0.0.1:{port}/v1/archive")
    days = ["--start", "2024-03-01", "--end", "2024-03-02"]
    unreachable = CliRunner().invoke(app, ["weather", "fetch", "--city", "DEL", "--archive", *days])
    assert unreachable.exit_code != 0 and "unreachable" in unreachable.output and f"127.0.0.1:{port}/v1/archive" in unreachable.output
    assert len(unreachable.output.strip().splitlines()) == 1 and "after 4 attempt(s)" in unreachable.output
    configure(open_meteo.url("forecast"), open_meteo.url("archive"))
    backwards = CliRunner().invoke(app, ["weather", "fetch", "--city", "DEL", "--archive", "--start", "2024-03-02", "--end", "2024-03-01"])
    assert backwards.exit_code != 0 and "end" in backwards.output and "before start" in backwards.output
    future = (date.today() + timedelta(days=3)).isoformat()
    ahead = CliRunner().invoke(app, ["weather", "fetch", "--city", "DEL", "--archive", "--start", "2024-03-01", "--end", future])
    assert ahead.exit_code != 0 and "in the future" in ahead.output
    assert not open_meteo.calls  # refused before any request
    for args, option in ((["--archive", "--start", "2024-03-01"], "--start/--end"), (days, "--archive"),
                         (["--archive", *days, "--days", "2"], "--days")):
        refused = CliRunner().invoke(app, ["weather", "fetch", "--city", "DEL", *args])
        assert refused.exit_code == 2 and option in refused.output, (args, refused.output)
