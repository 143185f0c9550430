"""The synthetic source: deterministic, seasonal in the right places, faults at the asked rate."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from data.catalogue import City, Catalogue
from data.schema import WEATHER_VALUES
from data.settings import REPO_ROOT
from data.synthetic import generate, generate_city


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue(REPO_ROOT / "configs" / "cities.yaml", REPO_ROOT / "no-overlay.yaml")


@pytest.fixture(scope="module")
def delhi_2024(catalogue):
    return generate_city(catalogue.get("DEL"), dt.date(2024, 1, 1), 366, seed=7, fault_rate=0.0)


def _local(frame: pd.DataFrame, tz: str = "Asia/Kolkata") -> pd.DataFrame:
    return frame.assign(local=frame["ts"].dt.tz_convert(tz)).set_index("local")


def test_same_seed_same_data_other_seed_other_data(catalogue):
    city = catalogue.get("MUM")
    first = generate_city(city, dt.date(2023, 3, 1), 20, seed=1)
    again = generate_city(city, dt.date(2023, 3, 1), 20, seed=1)
    other = generate_city(city, dt.date(2023, 3, 1), 20, seed=2)
    pd.testing.assert_frame_equal(first.load, again.load)
    pd.testing.assert_frame_equal(first.weather, again.weather)
    assert not np.allclose(first.load["load_mw"].head(500), other.load["load_mw"].head(500))


def test_a_day_does_not_depend_on_the_window_asked_for(catalogue):
    city = catalogue.get("DEL")
    year = generate_city(city, dt.date(2023, 1, 1), 365, seed=3, fault_rate=0.01)
    month = generate_city(city, dt.date(2023, 6, 1), 30, seed=3, fault_rate=0.01)
    # Past the first day (thermal-lag warm-up), the same blocks carry the same values.
    later = month.load[month.load["ts"] >= pd.Timestamp("2023-06-02", tz="Asia/Kolkata")]
    same = year.load.merge(later, on=["ts", "fault"], suffixes=("_year", "_month"))
    assert len(same) >= len(later) - 2
    np.testing.assert_allclose(same["load_mw_year"], same["load_mw_month"], rtol=2e-3)


def test_frames_have_the_source_batch_columns(delhi_2024):
    load, weather = delhi_2024.load, delhi_2024.weather
    assert list(load.columns[:6]) == ["line", "city", "ts", "load_mw", "load_shedding", "raw"]
    assert str(load["ts"].dtype) == "datetime64[us, UTC]"
    assert load["load_shedding"].dtype == bool
    assert set(WEATHER_VALUES) <= set(weather.columns)
    assert (weather["kind"] == "observed").all() and weather["issued_at"].isna().all()
    assert load["line"].tolist() == list(range(1, len(load) + 1))
    first = load.iloc[0]
    assert first["raw"] == f"2024-01-01 00:00:00+05:30,DEL,{first['load_mw']}"
    assert first["ts"] == pd.Timestamp("2023-12-31 18:30", tz="UTC")
    assert len(load) == 366 * 96 and load["ts"].is_unique


def test_north_indian_seasons(delhi_2024, catalogue):
    temp = _local(delhi_2024.weather)["temperature_c"]
    assert temp["2024-06"].mean() > temp["2024-01"].mean() + 12
    assert temp["2024-05"].max() > 38 and temp["2024-01"].min() < 8
    rain = _local(delhi_2024.weather)["precipitation_mm"]
    assert rain["2024-07":"2024-08"].sum() > 5 * rain["2024-11":"2024-12"].sum()
    load = _local(delhi_2024.load)["load_mw"]
    assert load["2024-06"].mean() > 1.2 * load["2024-03"].mean()
    peak = catalogue.get("DEL").peak_mw
    assert 0.85 * peak < load.max() < 1.25 * peak


def test_monsoons_and_mild_bengaluru(catalogue):
    chennai = _local(generate_city(catalogue.get("CHE"), dt.date(2023, 1, 1), 365, seed=5).weather)
    assert chennai["precipitation_mm"]["2023-11"].sum() > 3 * chennai["precipitation_mm"]["2023-02"].sum()
    assert chennai["relative_humidity_pct"].mean() > 65
    mumbai = _local(generate_city(catalogue.get("MUM"), dt.date(2023, 6, 1), 61, seed=5).weather)
    assert mumbai["precipitation_mm"].sum() > 500
    bengaluru = _local(generate_city(catalogue.get("BLR"), dt.date(2023, 5, 1), 31, seed=5).weather)
    assert bengaluru["temperature_c"].mean() < 28


def test_weekdays_carry_more_load_than_sundays(delhi_2024):
    load = _local(delhi_2024.load)["load_mw"]
    weekday = load[load.index.day_of_week < 5].mean()
    sunday = load[load.index.day_of_week == 6].mean()
    assert weekday > 1.05 * sunday


def test_diwali_evening_lighting(delhi_2024):
    load = _local(delhi_2024.load)["load_mw"]

    def evening(day: str) -> float:
        return load[day].between_time("19:00", "22:00").mean()

    # Diwali 2024 fell on Thursday 31 October; compare with the Thursdays around it.
    assert evening("2024-10-31") > 1.02 * (evening("2024-10-24") + evening("2024-11-07")) / 2


@pytest.mark.parametrize("rate", [0.0, 0.02])
def test_fault_rate_is_honoured(catalogue, rate):
    batch = generate_city(catalogue.get("HYD"), dt.date(2023, 1, 1), 365, seed=11, fault_rate=rate)
    load = batch.load
    grid_blocks = 365 * 96
    missing = grid_blocks - load["ts"].nunique()
    faulty = missing + int((load["fault"] != "").sum())
    if rate == 0.0:
        assert faulty == 0 and not load["load_shedding"].any()
        return
    assert 0.5 * rate * grid_blocks < faulty < 1.5 * rate * grid_blocks
    kinds = set(load["fault"].astype(str)) - {""}
    assert kinds == {"shedding", "duplicate", "spike", "flatline"} and missing > 0
    assert load.loc[load["fault"] == "shedding", "load_shedding"].all()
    assert load["ts"].duplicated().sum() == (load["fault"] == "duplicate").sum()


def test_user_city_in_the_southern_hemisphere_gets_a_derived_climate():
    sydney = City(code="SYD", name="Sydney", country="AU", subdivision="NSW", latitude=-33.87,
                  longitude=151.21, timezone="Australia/Sydney", peak_mw=9000)
    batch = generate_city(sydney, dt.date(2023, 1, 1), 365, seed=1, fault_rate=0.0)
    weather = _local(batch.weather, "Australia/Sydney")
    assert weather["temperature_c"]["2023-01"].mean() > weather["temperature_c"]["2023-07"].mean() + 5
    assert batch.load["ts"].is_unique and len(batch.load) == 365 * 96  # DST days have 92 and 100 blocks
    assert 0.7 * sydney.peak_mw < batch.load["load_mw"].max() < 1.3 * sydney.peak_mw


def test_generate_yields_one_batch_per_city(catalogue):
    cities = [catalogue.get("JAI"), catalogue.get("LKO")]
    batches = list(generate(cities, dt.date(2024, 1, 1), 2, seed=1))
    assert [b.load["city"].iloc[0] for b in batches] == ["JAI", "LKO"]
    assert all(b.source == "synthetic" and b.resolution_minutes == 15 for b in batches)
