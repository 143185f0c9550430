"""The synthetic source: a city's load and observed weather as a ``SourceBatch``.

The batch looks like a file a utility would send (one row per 15-minute block with load
and weather columns, ``raw`` text per row), faults included, so it goes through exactly
the same validation as an imported file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.catalogue import City
from data.records import SourceBatch
from data.schema import WEATHER_VALUES
from data.synthetic.calendar import build_grid, draw_streams
from data.synthetic.faults import FAULT_LABELS, apply_faults, draw_events
from data.synthetic.load import day_types, growth, noise, peak_scale, relative_load
from data.synthetic.profiles import climate_for, load_config
from data.synthetic.weather import block_weather, daily_weather

SOURCE = "synthetic"


def _offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _raw_text(city: City, ts: np.ndarray, local: np.ndarray, load: np.ndarray) -> pd.Series:
    """``<local time with offset>,<city>,<load>`` per row, built in Arrow (string casts
    are an order of magnitude faster than strftime here)."""
    offsets = (local.astype("datetime64[m]") - ts.astype("datetime64[m]")).astype(np.int64)
    unique, inverse = np.unique(offsets, return_inverse=True)
    offset_text = pa.DictionaryArray.from_arrays(pa.array(inverse.astype(np.int32)),
                                                 pa.array([_offset_text(int(m)) for m in unique])).cast(pa.string())
    local_text = pc.cast(pa.array(local.astype("datetime64[s]")), pa.string())
    stamp = pc.binary_join_element_wise(local_text, offset_text, "")
    text = pc.binary_join_element_wise(stamp, pa.scalar(city.code), pc.cast(pa.array(load), pa.string()), ",")
    return pd.Series(text.to_pandas(types_mapper=pd.ArrowDtype)).astype("string[pyarrow]")


def generate_city(city: City, start: dt.date, days: int, seed: int, fault_rate: float = 0.002) -> SourceBatch:
    """``days`` days of 15-minute load and weather from local midnight of ``start``.

    Deterministic in (seed, city.code): the same day gets the same values whatever the
    window. ``fault_rate`` is the share of blocks given a fault (missing, load shedding,
    duplicate, spike or flatline); the ``fault`` column names it, for tests and plots.
    """
    if not 0.0 <= fault_rate <= 0.5:
        raise ValueError("fault_rate must be between 0 and 0.5")
    config = load_config()
    climate = climate_for(city, config)
    grid = build_grid(city, start, days)
    streams = draw_streams(grid, seed, city.code)
    window = slice(grid.first_block, grid.first_block + grid.n_blocks)
    block_draws = {name: values[window] for name, values in streams.block.items()}
    daily = daily_weather(climate, config.weather, grid.dates, streams.daily)
    weather = block_weather(daily, grid.day, grid.hour, grid.ts_utc, city.latitude, city.longitude,
                            climate.coastal, block_draws)
    types = day_types(city, grid.dates)
    relative = relative_load(config.load, climate, grid.hour, grid.day, types, weather)
    # The AR noise runs over the whole stream frame so that it does not depend on the window.
    load_noise = noise(config.load, streams.block["load"], streams.block["white"])[window]
    load = peak_scale(city) * growth(config.load, config.reference_year, grid.dates)[grid.day] * relative * load_noise
    faulted = apply_faults(load, draw_events(grid, config.faults, seed, city.code, fault_rate))
    rows = faulted.rows
    load_mw = np.round(faulted.load, 1)
    ts = pd.DatetimeIndex(grid.ts_utc[rows]).tz_localize("UTC")
    line = np.arange(1, len(rows) + 1, dtype=np.int64)
    city_col = pd.Series(pd.Categorical.from_codes(np.zeros(len(rows), np.int8), [city.code])).astype("string")
    load_frame = pd.DataFrame(
        {
            "line": line,
            "city": city_col,
            "ts": ts,
            "load_mw": load_mw,
            "load_shedding": faulted.shedding,
            "raw": _raw_text(city, grid.ts_utc[rows], grid.local[rows], load_mw).array,
            "fault": pd.Categorical.from_codes(faulted.fault, FAULT_LABELS),
        }
    )
    weather_frame = pd.DataFrame({"line": line, "city": city_col, "ts": ts,
                                  **{name: weather[name][rows] for name in WEATHER_VALUES}})
    weather_frame["kind"] = "observed"
    weather_frame["issued_at"] = pd.Series(pd.NaT, index=weather_frame.index, dtype="datetime64[us, UTC]")
    return SourceBatch(
        source=SOURCE,
        path=None,
        load=load_frame,
        weather=weather_frame,
        resolution_minutes=15,
        notes=[f"synthetic {city.code} seed={seed} fault_rate={fault_rate}"],
    )


def generate(cities: Iterable[City], start: dt.date, days: int, seed: int, fault_rate: float = 0.002) -> Iterator[SourceBatch]:
    """One batch per city, lazily (a city of three years is about 105k rows)."""
    for city in cities:
        yield generate_city(city, start, days, seed, fault_rate)
