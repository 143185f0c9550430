"""Synthetic frames in ``data.schema`` shape straight from the generator, for quick fits.

Used by the training benchmark and tests that need data without a store; the normal path
reads stored (validated, ingested) data through ``training.data_prep``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from data.catalogue import City
from data.schema import LOAD_COLUMNS, WEATHER_COLUMNS
from data.synthetic.generator import generate_city


def synthetic_frames(city: City, start: dt.date, days: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fault-free load and observed weather for ``days`` days from ``start`` (local midnight)."""
    batch = generate_city(city, start, days, seed, fault_rate=0.0)
    raw = batch.load
    load = pd.DataFrame({
        "city": city.code, "ts": pd.to_datetime(raw["ts"], utc=True).dt.as_unit("us"), "load_mw": raw["load_mw"].astype(float),
        "imputed": False, "load_shedding": raw["load_shedding"].fillna(False).astype(bool) if "load_shedding" in raw else False,
        "outlier": False,
    }).dropna(subset=["load_mw"])
    weather = batch.weather.copy()
    weather["ts"] = pd.to_datetime(weather["ts"], utc=True).dt.as_unit("us")
    for column in WEATHER_COLUMNS:
        if column not in weather:
            weather[column] = None
    return load[list(LOAD_COLUMNS)].reset_index(drop=True), weather[list(WEATHER_COLUMNS)].reset_index(drop=True)
