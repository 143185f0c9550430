"""A city's series on a regular grid, and the per-issue-time samples cut from it.

The same two functions build features at train time (many issue times over the whole
series) and at serve time (one issue time over a short window), which is why the two
cannot disagree. Leakage is ruled out by construction: for an issue time at grid index
``o`` every load value read has index ``< o`` (history window, level, and lags of
``k`` days only where ``k`` days >= the horizon).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.catalogue import City
from training.features.config import FeatureConfig
from training.features.calendar import CALENDAR_FEATURES, calendar_features
from training.features.weather import WEATHER_FEATURES, align_weather, weather_features

COVARIATES = CALENDAR_FEATURES + WEATHER_FEATURES
HIST_FEATURES = ("load_rel", "load_missing", "tod_sin", "tod_cos")
APPARENT = COVARIATES.index("apparent_temperature_c")
HOLIDAY = COVARIATES.index("holiday")
#: The last future features, in this order; ``lag_mean`` (mean of the valid same-block lags,
#: relative to the level) is the seasonal-naive reference the sequence members correct.
TAIL_FEATURES = ("lag_mean", "last_load", "level", "hist_std", "city")
BASE_INDEX = -len(TAIL_FEATURES)


@dataclass
class CityGrid:
    """Scaled load (NaN where unknown or masked) and target-time covariates on a regular grid."""

    city: str
    ts: pd.DatetimeIndex
    load_s: np.ndarray  # (N,) float32, load / city scale; NaN: missing, load-shedding or outlier
    target_ok: np.ndarray  # (N,) bool: usable as a training target (also not imputed)
    cov: np.ndarray  # (N, len(COVARIATES)) float32


@dataclass
class Samples:
    """Features for ``n`` issue times of one city (or many, concatenated)."""

    future: np.ndarray  # (n, H, F) float32
    hist: np.ndarray  # (n, L, len(HIST_FEATURES)) float32
    level: np.ndarray  # (n,) scaled level at issue time
    y: np.ndarray  # (n, H) scaled target minus level (NaN where unknown)
    ymask: np.ndarray  # (n, H) bool
    city_idx: np.ndarray  # (n,) int
    scale: np.ndarray  # (n,) MW per scaled unit
    origin: np.ndarray  # (n,) datetime64[ns] UTC: where known load ends (the effective issue time)
    lead: np.ndarray  # (n,) int steps from ``origin`` to the first target step
    start: np.ndarray  # (n,) datetime64[ns] UTC: the first target step
    cities: np.ndarray  # (n,) city codes

    def __len__(self) -> int:
        return len(self.level)

    def take(self, index: np.ndarray) -> "Samples":
        return Samples(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})

    @staticmethod
    def concat(parts: list["Samples"]) -> "Samples":
        return Samples(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in Samples.__dataclass_fields__})


def future_feature_names(lag_days: list[int]) -> list[str]:
    return [
        *COVARIATES, "lead_hours", *[f"load_lag_{k}d" for k in lag_days],
        *[f"apparent_delta_{k}d" for k in lag_days], *[f"holiday_lag_{k}d" for k in lag_days],
        *TAIL_FEATURES,
    ]


def build_grid(
    city: City, load: pd.DataFrame, weather: pd.DataFrame, grid: pd.DatetimeIndex, scale: float,
    resolution_minutes: int, cfg: FeatureConfig,
) -> CityGrid:
    """Put load and weather on ``grid``; load rows outside it are ignored."""
    series = pd.Series(np.nan, index=grid, dtype="float64")
    target_ok = np.zeros(len(grid), dtype=bool)
    if load is not None and not load.empty:
        frame = load.copy()
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.as_unit("us")
        frame = frame.drop_duplicates("ts", keep="last").set_index("ts")
        frame = frame.reindex(grid)
        flags = {f: frame[f].fillna(False).astype(bool).to_numpy() if f in frame else np.zeros(len(grid), bool)
                 for f in ("imputed", "load_shedding", "outlier")}
        values = frame["load_mw"].to_numpy(dtype=np.float64)
        unusable = flags["load_shedding"] | flags["outlier"]
        values = np.where(unusable, np.nan, values)
        series[:] = values
        target_ok = ~np.isnan(values) & ~flags["imputed"]
    cov = np.concatenate(
        [calendar_features(grid, city, resolution_minutes, cfg),
         weather_features(align_weather(weather, grid), resolution_minutes, cfg)], axis=1)
    return CityGrid(city.code, grid, (series.to_numpy() / scale).astype(np.float32), target_ok, cov)


def regular_grid(start: pd.Timestamp, end: pd.Timestamp, resolution_minutes: int) -> pd.DatetimeIndex:
    """Interval starts from ``start`` (inclusive) to ``end`` (exclusive), UTC."""
    return pd.date_range(start, end, freq=f"{resolution_minutes}min", inclusive="left", tz="UTC").as_unit("us")


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    count = np.sum(~np.isnan(a), axis=axis)
    total = np.nansum(a, axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def cut_samples(
    grid: CityGrid, origins: np.ndarray, leads: np.ndarray, horizon: int, history_steps: int, lag_days: list[int],
    steps_per_day: int, city_idx: int, scale: float,
) -> Samples:
    """Samples whose known load ends at grid indices ``origins`` and whose targets start ``leads``
    steps later; needs ``origins >= max lag`` in steps.

    Everything read from the load is before the origin: the history window, the level, and
    each same-block lag only where it falls before the origin (NaN elsewhere, so a longer
    lead simply has fewer lags). ``lead_hours`` tells the model how far each target is from
    the last known load.
    """
    origins = np.asarray(origins, dtype=np.int64)
    leads = np.broadcast_to(np.asarray(leads, dtype=np.int64), origins.shape)
    n, N = len(origins), len(grid.load_s)
    load = grid.load_s
    steps = np.arange(horizon)
    ahead = leads[:, None] + steps[None, :]  # (n, H) steps from the origin
    t = origins[:, None] + ahead  # (n, H)
    t_safe = np.minimum(t, N - 1)
    hist_idx = origins[:, None] - history_steps + np.arange(history_steps)[None, :]
    hist_load = load[hist_idx].astype(np.float64)
    last_day = hist_load[:, -steps_per_day:] if history_steps >= steps_per_day else hist_load
    level = _nanmean(last_day, axis=1)
    level = np.where(np.isnan(level), _nanmean(hist_load, axis=1), level)
    level = np.where(np.isnan(level), 1.0, level)
    hist_std = np.nan_to_num(np.nanstd(np.where(np.isnan(last_day), np.nanmean(last_day), last_day), axis=1), nan=0.0)
    lags = [np.where(ahead < k * steps_per_day, load[np.minimum(t - k * steps_per_day, N - 1)], np.nan) - level[:, None]
            for k in lag_days]
    lag_mean = _nanmean(np.stack(lags, axis=2), axis=2) if lags else np.zeros((n, horizon))
    # How the weather and the calendar differ from each lag's day: what a lag must be corrected for.
    apparent = grid.cov[:, APPARENT]
    deltas = [apparent[t_safe] - apparent[np.minimum(t - k * steps_per_day, N - 1)] for k in lag_days]
    lag_holidays = [grid.cov[np.minimum(t - k * steps_per_day, N - 1), HOLIDAY] for k in lag_days]
    last = hist_load[:, -1] - level
    future = np.concatenate(
        [
            grid.cov[t_safe],
            (ahead * (1440 // steps_per_day) / 60.0)[:, :, None],
            *[lag[:, :, None] for lag in lags],
            *[d[:, :, None] for d in deltas],
            *[hol[:, :, None] for hol in lag_holidays],
            lag_mean[:, :, None],
            np.broadcast_to(last[:, None, None], (n, horizon, 1)),
            np.broadcast_to(level[:, None, None], (n, horizon, 1)),
            np.broadcast_to(hist_std[:, None, None], (n, horizon, 1)),
            np.full((n, horizon, 1), city_idx, dtype=np.float64),
        ],
        axis=2,
    ).astype(np.float32)
    rel = hist_load - level[:, None]
    tod = grid.cov[hist_idx][:, :, :2]
    hist = np.concatenate([np.nan_to_num(rel)[:, :, None], np.isnan(rel)[:, :, None], tod], axis=2).astype(np.float32)
    inside = t < N
    y = np.where(inside, load[t_safe] - level[:, None], np.nan).astype(np.float32)
    ymask = inside & grid.target_ok[t_safe]
    return Samples(
        future=future, hist=hist, level=level.astype(np.float32), y=y, ymask=ymask,
        city_idx=np.full(n, city_idx, dtype=np.int64), scale=np.full(n, scale, dtype=np.float32),
        origin=_utc64(grid.ts[origins]), lead=leads.copy(), start=_utc64(grid.ts[np.minimum(origins + leads, N - 1)]),
        cities=np.full(n, grid.city, dtype=object),
    )


def _utc64(stamps: pd.DatetimeIndex) -> np.ndarray:
    return stamps.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")
