"""The accuracy benchmark on a user's own series, the way a new user brings one in:
`efp cities add` (a non-Indian region), `efp ingest csv` (timestamp, load_mw, temperature_c
at 30 minutes), then `python -m benchmarks.accuracy --csv FILE --city CODE --resolution 30`.

The series is GENERATED here (no network): a Sydney-like 30-minute demand curve with a
morning and an evening peak, lower weekends and NSW public holidays, temperature-driven
cooling and heating load, and autocorrelated noise; timestamps carry their UTC offset and
cross the end of daylight saving (7 April 2024). It is not real data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import holidays
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from data.settings import get_settings
from ray_apps.cli import app
from training.tiny import TINY_CONFIG


def sydney_like_series(start: str, days: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    local = pd.date_range(pd.Timestamp(start, tz="Australia/Sydney"), periods=days * 48, freq="30min")
    hour = local.hour + local.minute / 60
    day_index = np.arange(len(local)) / 48
    # Temperature: autumn cooling trend, a daily cycle peaking mid-afternoon, weather spells (AR(1)).
    spell = np.zeros(len(local))
    for i in range(1, len(local)):
        spell[i] = 0.995 * spell[i - 1] + rng.normal(0, 0.12)
    temperature = 23.5 - 0.08 * day_index + 4.0 * np.sin((hour - 9) / 24 * 2 * np.pi) + spell
    # Demand: night trough, morning and evening peaks, weekend and holiday dips, weather response.
    profile = (
        0.78
        + 0.14 * np.exp(-((hour - 8.0) ** 2) / 3.0)
        + 0.22 * np.exp(-((hour - 18.5) ** 2) / 4.0)
        + 0.10 * ((hour > 9) & (hour < 17))
    )
    nsw = holidays.country_holidays("AU", subdiv="NSW", years=sorted(set(local.year)))
    off = np.array([d.weekday() >= 5 or d in nsw for d in local.date])
    cooling = 0.022 * np.clip(temperature - 22.0, 0, None)
    heating = 0.015 * np.clip(16.0 - temperature, 0, None)
    noise = np.zeros(len(local))
    for i in range(1, len(local)):
        noise[i] = 0.9 * noise[i - 1] + rng.normal(0, 0.006)
    load = 6000 * profile * np.where(off, 0.9, 1.0) * (1 + cooling + heating + noise)
    return pd.DataFrame(
        {"timestamp": [t.isoformat() for t in local], "load_mw": load.round(1), "temperature_c": temperature.round(1)}
    )


@pytest.fixture()
def user_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("EFP_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("EFP_REGISTRY_URI", str(tmp_path / "registry"))
    monkeypatch.setenv("EFP_ENVIRONMENT", "test")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_benchmark_runs_on_a_users_30_minute_csv(user_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.accuracy import main

    runner = CliRunner()
    added = runner.invoke(app, [
        "cities", "add", "SYD", "--name", "Sydney", "--country", "AU", "--subdivision", "NSW",
        "--lat", "-33.87", "--lon", "151.21", "--timezone", "Australia/Sydney", "--peak-mw", "7000",
    ])
    assert added.exit_code == 0, added.output
    csv = user_env / "sydney.csv"
    sydney_like_series("2024-03-01", 42).to_csv(csv, index=False)
    ingested = runner.invoke(app, ["ingest", "csv", str(csv), "--city", "SYD", "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["rejected"] == 0

    config = user_env / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_CONFIG))
    report = user_env / "benchmarks.md"
    capsys.readouterr()
    code = main(["--csv", str(csv), "--city", "SYD", "--resolution", "30", "--holdout-days", "4",
                 "--config", str(config), "--report", str(report), "--json"])
    assert code in (0, 1)  # 1 only means a target was missed by this tiny model
    result = json.loads(capsys.readouterr().out)
    # 42 x 48 half-hours end at 22:30 on 11 April (the clocks went back an hour on the 7th):
    # the last complete local day is the 10th, and the hold-out includes the 25-hour day.
    assert result["cities"] == ["SYD"] and result["holdout"] == ["2024-04-07", "2024-04-10"]
    syd = {row["model"]: row for row in result["rows"] if row["city"] == "SYD"}
    assert set(syd) == {"ensemble", "xgboost", "lstm", "transformer", "seasonal_naive_day", "seasonal_naive_week"}
    assert all(isinstance(row["mape"], float) for row in syd.values())
    assert 0 < syd["ensemble"]["mape"] < 25
    # late data: the same days with the load a day and two days late, with and without horizon weather
    late = {(row["lead"], row["weather"]): row["mape"] for row in result["late_data"] if row["city"] == "SYD"}
    assert set(late) == {(lead, weather) for lead in ("24h", "48h") for weather in ("with weather", "no weather")}
    assert all(0 < value < 25 for value in late.values()), late
    assert "late_data_mape at lead 48h, no weather" in result["checks"]
    assert "<!-- begin:accuracy-syd -->" in report.read_text()

    wrong = main(["--csv", str(csv), "--city", "SYD", "--resolution", "15", "--config", str(config), "--no-report"])
    assert wrong == 2  # the stored series is 30-minute: refused with a one-line error
