"""Seasonal-naive baselines: the same block a day / a week earlier, with error-based bands."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.baselines import seasonal_naive


def _history(days: int) -> pd.DataFrame:
    ts = pd.date_range("2024-01-01", periods=days * 96, freq="15min", tz="UTC")
    rng = np.random.default_rng(1)
    load = 1000 + 200 * np.sin(2 * np.pi * np.arange(len(ts)) / 96) + 50 * (ts.dayofweek >= 5) + rng.normal(0, 5, len(ts))
    return pd.DataFrame({"city": "DEL", "ts": ts, "load_mw": load, "imputed": False, "load_shedding": False, "outlier": False})


def test_weekly_and_daily_naive_repeat_the_past_blocks():
    history = _history(40)
    start = pd.Timestamp("2024-02-05", tz="UTC")
    week = seasonal_naive(history, start, 96, 15, "week")
    day = seasonal_naive(history, start, 96, 15, "day")
    by_ts = history.set_index("ts")["load_mw"]
    np.testing.assert_allclose(week[:, 1], by_ts[start - pd.Timedelta(days=7):start - pd.Timedelta(days=6, minutes=15)].to_numpy())
    np.testing.assert_allclose(day[:, 1], by_ts[start - pd.Timedelta(days=1):start - pd.Timedelta(minutes=15)].to_numpy())
    for forecast in (week, day):
        assert forecast.shape == (96, 3) and (np.diff(forecast, axis=1) >= 0).all()
        assert (forecast[:, 2] > forecast[:, 0]).all()  # a real band from the method's own errors


def test_naive_never_reads_the_future():
    history = _history(40)
    start = pd.Timestamp("2024-02-05", tz="UTC")
    changed = history.copy()
    changed.loc[changed["ts"] >= start, "load_mw"] = 0.0
    np.testing.assert_array_equal(seasonal_naive(history, start, 96, 15, "day"), seasonal_naive(changed, start, 96, 15, "day"))
