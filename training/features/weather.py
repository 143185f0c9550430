"""Weather-derived features: what drives cooling and heating demand.

Apparent temperature (Steadman / Australian BoM, with humidity and wind) captures how
hot it feels, which is what air conditioners answer; degree hours above/below comfort
bases separate cooling and heating load; a 24 h mean temperature carries the thermal
inertia of buildings. Columns absent from a series (e.g. a CSV with temperature only)
stay NaN: XGBoost treats them as missing and the sequence members see zeros.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.schema import WEATHER_VALUES
from training.features.config import FeatureConfig

WEATHER_FEATURES = (
    "temperature_c", "relative_humidity_pct", "apparent_temperature_c", "cooling_degree_h", "heating_degree_h",
    "temperature_mean_24h", "precipitation_mm", "cloud_cover_pct", "shortwave_radiation_wm2", "wind_speed_kmh",
)


def align_weather(weather: pd.DataFrame, grid: pd.DatetimeIndex) -> pd.DataFrame:
    """Weather values on the load grid: time interpolation inside known points, NaN outside."""
    if weather is None or weather.empty:
        return pd.DataFrame(np.nan, index=grid, columns=list(WEATHER_VALUES))
    frame = weather.copy()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame = frame.groupby("ts")[[c for c in WEATHER_VALUES if c in frame.columns]].mean().sort_index()
    for column in WEATHER_VALUES:
        if column not in frame.columns:
            frame[column] = np.nan
    frame = frame[list(WEATHER_VALUES)].astype("float64")
    grid = pd.DatetimeIndex(grid).as_unit("us")
    frame.index = pd.DatetimeIndex(frame.index).as_unit("us")
    union = frame.index.union(grid)
    filled = frame.reindex(union).interpolate(method="time", limit_area="inside", limit=8)
    return filled.reindex(grid)


def apparent_temperature(temp_c: np.ndarray, rh_pct: np.ndarray, wind_kmh: np.ndarray) -> np.ndarray:
    """Steadman apparent temperature (BoM form); falls back to the air temperature without humidity."""
    rh = np.where(np.isnan(rh_pct), 50.0, rh_pct)
    wind_ms = np.where(np.isnan(wind_kmh), 0.0, wind_kmh) / 3.6
    vapour = rh / 100.0 * 6.105 * np.exp(17.27 * temp_c / (237.7 + temp_c))
    at = temp_c + 0.33 * vapour - 0.70 * wind_ms - 4.0
    return np.where(np.isnan(rh_pct), temp_c, at)


def weather_features(aligned: pd.DataFrame, resolution_minutes: int, cfg: FeatureConfig) -> np.ndarray:
    """(len(grid), len(WEATHER_FEATURES)) float32 from weather aligned to the grid."""
    temp = aligned["temperature_c"].to_numpy(np.float64)
    rh = aligned["relative_humidity_pct"].to_numpy(np.float64)
    wind = aligned["wind_speed_kmh"].to_numpy(np.float64)
    apparent = apparent_temperature(temp, rh, wind)
    steps_day = 1440 // resolution_minutes
    mean_24h = pd.Series(temp).rolling(steps_day, min_periods=max(1, steps_day // 2)).mean().to_numpy()
    columns = [
        temp, rh, apparent, np.maximum(apparent - cfg.cooling_base_c, 0.0), np.maximum(cfg.heating_base_c - temp, 0.0),
        mean_24h, aligned["precipitation_mm"].to_numpy(np.float64), aligned["cloud_cover_pct"].to_numpy(np.float64),
        aligned["shortwave_radiation_wm2"].to_numpy(np.float64), wind,
    ]
    return np.stack(columns, axis=1).astype(np.float32)
