"""The preprocessor: no leakage, serve-time == train-time features, local calendar."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from data.catalogue import load_catalogue
from training.api import ForecastInput
from training.config import TrainConfig
from training.data_prep import build_training_data
from training.synthetic_frames import synthetic_frames

CONFIG = TrainConfig.model_validate({"split": {"validation_days": 5, "test_days": 5}, "features": {"origins_per_day": 2}})


@pytest.fixture(scope="module")
def frames(request):
    from data.settings import load_settings

    catalogue = load_catalogue(load_settings(environment="test"))
    cities = [catalogue.get("DEL"), catalogue.get("MUM")]
    return cities, {c.code: synthetic_frames(c, dt.date(2023, 10, 1), 40, seed=3) for c in cities}


def test_no_leakage_future_load_changes_nothing(frames):
    cities, data = frames
    prepared = build_training_data(cities, data, 15, CONFIG)
    pre = prepared.preprocessor
    load, weather = data["DEL"]
    start, end = pd.Timestamp("2023-10-01", tz="UTC"), pd.Timestamp("2023-11-10", tz="UTC")
    grid = pre.city_grid("DEL", load, weather, start, end)
    origin = int(np.searchsorted(grid.ts, pd.Timestamp("2023-10-25 18:30", tz="UTC")))
    before = pre.samples_at(grid, np.array([origin]))
    issue = grid.ts[origin]
    shifted = load.copy()
    future = pd.to_datetime(shifted["ts"], utc=True) >= issue
    shifted.loc[future, "load_mw"] = shifted.loc[future, "load_mw"] * 3.0 + 500.0  # wildly different future
    after = pre.samples_at(pre.city_grid("DEL", shifted, weather, start, end), np.array([origin]))
    np.testing.assert_array_equal(before.future, after.future)
    np.testing.assert_array_equal(before.hist, after.hist)
    np.testing.assert_array_equal(before.level, after.level)
    assert not np.allclose(before.y, after.y)  # the targets did see the change: the perturbation was real


@pytest.mark.parametrize("lead_hours", [0, 14, 38])
def test_serve_time_features_equal_train_time_features(frames, lead_hours):
    cities, data = frames
    prepared = build_training_data(cities, data, 15, CONFIG)
    pre = prepared.preprocessor
    test = prepared.test
    index = int(np.flatnonzero((test.cities == "MUM") & (test.lead == lead_hours * 4))[1])
    issue = pd.Timestamp(test.origin[index]).tz_localize("UTC")
    start = pd.Timestamp(test.start[index]).tz_localize("UTC")
    assert start - issue == pd.Timedelta(hours=lead_hours)
    load, weather = data["MUM"]
    inp = ForecastInput(city="MUM", start=start, horizon=pre.horizon, resolution_minutes=15, history=load, weather=weather,
                        as_of=issue)
    features = pre.features(inp)
    served = features.samples
    assert (features.data_until, features.lead_steps) == (issue, lead_hours * 4)
    np.testing.assert_allclose(served.future[0], test.future[index], rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(served.hist[0], test.hist[index], rtol=1e-6)
    assert served.level[0] == pytest.approx(test.level[index])


def test_late_data_lengthens_the_lead_and_drops_only_the_lags_it_hides(frames):
    """A day of missing load is a longer lead, as trained, not a gap in the inputs."""
    cities, data = frames
    pre = build_training_data(cities, data, 15, CONFIG).preprocessor
    load, weather = data["DEL"]
    start = pd.Timestamp("2023-11-01 00:00", tz="Asia/Kolkata").tz_convert("UTC")
    on_time = pre.features(ForecastInput("DEL", start, 96, 15, load, weather, as_of=start))
    late = pre.features(ForecastInput("DEL", start, 96, 15, load, weather, as_of=start - pd.Timedelta(days=1)))
    assert (on_time.lead_steps, late.lead_steps) == (0, 96)
    # Issued mid-block: the block under way is not known yet (its value averages the whole interval).
    mid_block = pre.features(ForecastInput("DEL", start, 96, 15, load, weather, as_of=start - pd.Timedelta(minutes=7)))
    assert (mid_block.data_until, mid_block.lead_steps) == (start - pd.Timedelta(minutes=15), 1)
    names = pre.feature_names
    lead_hours = late.samples.future[0, :, names.index("lead_hours")]
    assert lead_hours[0] == 24.0 and lead_hours[-1] == pytest.approx(24 + 23.75)
    assert np.isnan(late.samples.future[0, :, names.index("load_lag_1d")]).all()  # after the last known load
    assert not np.isnan(on_time.samples.future[0, :, names.index("load_lag_1d")]).any()
    hidden = [names.index(n) for n in ("load_lag_1d", "load_lag_2d")]  # lag 2d is hidden for its first day only
    for features in (on_time, late):  # every other input is defined: nothing the model never saw
        assert np.isfinite(np.delete(features.samples.future[0], hidden, axis=1)).all()
        assert np.isfinite(features.samples.hist).all() and np.isfinite(features.samples.level).all()


def test_a_lead_beyond_the_trained_one_names_start(frames):
    from training.preprocessor import ForecastInputError

    cities, data = frames
    pre = build_training_data(cities, data, 15, CONFIG).preprocessor
    load, weather = data["DEL"]
    start = pd.Timestamp("2023-11-01 00:00", tz="UTC")
    with pytest.raises(ForecastInputError, match=r"start: .* 72.0 h after the last known load .* at most 48 h"):
        pre.features(ForecastInput("DEL", start, 96, 15, load, weather, as_of=start - pd.Timedelta(days=3)))


def test_calendar_uses_local_time_and_state_holidays(frames):
    cities, data = frames
    pre = build_training_data(cities, data, 15, CONFIG).preprocessor
    load, weather = data["DEL"]
    grid = pre.city_grid("DEL", load, weather, pd.Timestamp("2023-10-01", tz="UTC"), pd.Timestamp("2023-11-10", tz="UTC"))
    names = pre.feature_names
    block = grid.cov[:, names.index("block_of_day")]
    local_midnight = grid.ts.tz_convert("Asia/Kolkata")
    assert block[(local_midnight.hour == 0) & (local_midnight.minute == 0)].max() == 0  # IST midnight is block 0
    holiday = grid.cov[:, names.index("holiday")]
    gandhi = (local_midnight.month == 10) & (local_midnight.day == 2)  # Gandhi Jayanti, national holiday
    assert holiday[gandhi].min() == 1.0
    assert grid.cov[:, names.index("days_to_holiday")][gandhi].max() == 0


def test_missing_horizon_weather_is_filled_from_climatology_and_noted(frames):
    cities, data = frames
    pre = build_training_data(cities, data, 15, CONFIG).preprocessor
    load, weather = data["DEL"]
    issue = pd.Timestamp("2023-10-30 18:30", tz="UTC")
    past = weather[pd.to_datetime(weather["ts"], utc=True) < issue]
    inp = ForecastInput("DEL", issue, 96, 15, load[pd.to_datetime(load["ts"], utc=True) < issue], past)
    features = pre.features(inp)
    assert any("climatology" in note for note in features.notes)
    temperature = features.samples.future[0, :, pre.feature_names.index("temperature_c")]
    assert np.isfinite(temperature).all()


def test_thirty_minute_series_with_temperature_only(frames):
    """A user's own series (30-minute, temperature only, another country) gets day-ahead = 48 steps."""
    from data.catalogue import City

    cities, data = frames
    city = City(code="LON", name="London", country="GB", subdivision="ENG", latitude=51.5, longitude=-0.1,
                timezone="Europe/London", peak_mw=5000)
    load, weather = data["DEL"]
    load30 = load.set_index("ts").resample("30min").agg({"load_mw": "mean"}).reset_index()
    load30["city"], load30["imputed"], load30["load_shedding"], load30["outlier"] = "LON", False, False, False
    weather30 = weather[["ts", "temperature_c"]].assign(city="LON", kind="observed")
    prepared = build_training_data([city], {"LON": (load30, weather30)}, 30, CONFIG)
    assert prepared.horizon == 48 and prepared.train.future.shape[1] == 48
    names = prepared.preprocessor.feature_names
    apparent = prepared.train.future[..., names.index("apparent_temperature_c")]
    np.testing.assert_allclose(apparent, prepared.train.future[..., names.index("temperature_c")])  # no humidity: air temperature
    local = pd.DatetimeIndex(prepared.test.start).tz_localize("UTC").tz_convert("Europe/London")
    assert (local.hour == 0).all() and (local.minute == 0).all()  # day-ahead forecasts of London days
    issued = pd.DatetimeIndex(prepared.test.origin).tz_localize("UTC").tz_convert("Europe/London")
    assert set(issued.hour) == {0, 10} and (issued.minute == 0).all()  # issued at 00:00 and 10:00 London time
