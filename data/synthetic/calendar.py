"""The block grid of a generated window and the random streams behind it.

Random numbers are drawn per calendar year from a generator seeded by
``(seed, crc32(city code), year)`` and the window is cut out of them, so the same seed
gives the same weather and load for a given day whatever window is asked for (AR
processes warm up over the previous year). That keeps re-generated overlapping windows
consistent, which idempotent re-ingest relies on.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.catalogue import City

BLOCK = pd.Timedelta(minutes=15)


def city_seed(seed: int, code: str, year: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(code.encode()), year, stream])


def _local_midnight_utc(city: City, day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day.year, day.month, day.day, tz=city.timezone).tz_convert("UTC")


@dataclass(frozen=True)
class Grid:
    """The window's 15-minute blocks and where they sit in the multi-year stream frame."""

    origin_year: int
    years: list[int]
    year_block_offsets: np.ndarray  # first block of each year in the stream frame
    year_blocks: np.ndarray  # blocks in each year
    year_day_offsets: np.ndarray
    first_block: int  # window start in the stream frame
    ts_utc: np.ndarray  # datetime64[us], block starts
    local: np.ndarray  # datetime64[m], local wall clock
    day: np.ndarray  # day index (local) in the stream frame, per block
    hour: np.ndarray  # local hour of day, fractional
    dates: np.ndarray  # datetime64[D] of every day in the stream frame

    @property
    def n_blocks(self) -> int:
        return len(self.ts_utc)


def build_grid(city: City, start: dt.date, days: int) -> Grid:
    """UTC blocks from local midnight of ``start`` to local midnight ``days`` later."""
    if days < 1:
        raise ValueError("days must be at least 1")
    end = start + dt.timedelta(days=days)
    origin_year = start.year - 1
    years = list(range(origin_year, (end - dt.timedelta(days=1)).year + 1))
    bounds = [_local_midnight_utc(city, dt.date(y, 1, 1)) for y in [*years, years[-1] + 1]]
    year_blocks = np.array([(b - a) // BLOCK for a, b in zip(bounds[:-1], bounds[1:])], dtype=np.int64)
    year_block_offsets = np.concatenate([[0], np.cumsum(year_blocks)[:-1]])
    year_days = np.array([(dt.date(y + 1, 1, 1) - dt.date(y, 1, 1)).days for y in years], dtype=np.int64)
    year_day_offsets = np.concatenate([[0], np.cumsum(year_days)[:-1]])
    window_start = _local_midnight_utc(city, start)
    n_blocks = (_local_midnight_utc(city, end) - window_start) // BLOCK
    first_block = (window_start - bounds[0]) // BLOCK
    ts = pd.date_range(window_start, periods=n_blocks, freq=BLOCK, unit="us")
    local = ts.tz_convert(city.timezone).tz_localize(None).values.astype("datetime64[m]")
    local_day = local.astype("datetime64[D]")
    origin = np.datetime64(f"{origin_year}-01-01", "D")
    minutes = (local - local_day).astype(np.int64)
    dates = origin + np.arange(int(year_days.sum()))
    return Grid(
        origin_year=origin_year,
        years=years,
        year_block_offsets=year_block_offsets,
        year_blocks=year_blocks,
        year_day_offsets=year_day_offsets,
        first_block=int(first_block),
        ts_utc=ts.tz_localize(None).values.astype("datetime64[us]"),
        local=local,
        day=(local_day - origin).astype(np.int64),
        hour=minutes / 60.0,
        dates=dates,
    )


@dataclass(frozen=True)
class Streams:
    """Standard random draws over the whole stream frame (all years of the grid)."""

    daily: dict[str, np.ndarray]
    block: dict[str, np.ndarray]


DAILY_STREAMS = ("temp", "rain_u", "rain_amount", "rh", "cloud", "wind")
BLOCK_STREAMS = ("load", "white", "wind", "shower")


def draw_streams(grid: Grid, seed: int, code: str) -> Streams:
    daily: dict[str, list[np.ndarray]] = {name: [] for name in DAILY_STREAMS}
    block: dict[str, list[np.ndarray]] = {name: [] for name in BLOCK_STREAMS}
    n_days = np.diff(np.append(grid.year_day_offsets, len(grid.dates)))
    for year, days, blocks in zip(grid.years, n_days, grid.year_blocks):
        rng = city_seed(seed, code, year, 0)
        daily["temp"].append(rng.standard_normal(days))
        daily["rain_u"].append(rng.random(days))
        daily["rain_amount"].append(rng.standard_exponential(days))
        daily["rh"].append(rng.standard_normal(days))
        daily["cloud"].append(rng.standard_normal(days))
        daily["wind"].append(rng.standard_normal(days))
        block["load"].append(rng.standard_normal(blocks))
        block["white"].append(rng.standard_normal(blocks))
        block["wind"].append(rng.standard_normal(blocks))
        block["shower"].append(rng.gamma(0.4, 2.5, blocks))
    return Streams(
        daily={k: np.concatenate(v) for k, v in daily.items()},
        block={k: np.concatenate(v) for k, v in block.items()},
    )
