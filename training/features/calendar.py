"""Calendar features in the city's own timezone.

Demand follows local clocks and local holidays, so every calendar feature is computed
from the local wall time and the city's state holiday calendar (``holidays`` with its
subdivision), never from UTC.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from data.catalogue import City
from training.features.config import FeatureConfig

CALENDAR_FEATURES = (
    "tod_sin", "tod_cos", "block_of_day", "dow", "dow_sin", "dow_cos", "weekend",
    "doy_sin", "doy_cos", "holiday", "festival_window", "days_to_holiday", "days_from_holiday",
)


@functools.lru_cache(maxsize=256)
def _calendar_dates(city: City, first_year: int, last_year: int, festival_keywords: tuple[str, ...]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Holiday and festival dates (datetime64[D]) of ``city`` from ``first_year`` to ``last_year``, kept per
    city and span: building the ``holidays`` calendar was an eighth of a served forecast's features, and
    requests ask for the same few years again and again. Read-only arrays, being shared."""
    calendar = city.holiday_calendar(range(first_year, last_year + 1))
    days, festivals = [], []
    for day, name in calendar.items():
        days.append(np.datetime64(day, "D"))
        if any(word in str(name).lower() for word in festival_keywords):
            festivals.append(np.datetime64(day, "D"))
    out = np.array(sorted(days), dtype="datetime64[D]"), np.array(sorted(festivals), dtype="datetime64[D]")
    for array in out:
        array.flags.writeable = False
    return out


def calendar_features(ts_utc: pd.DatetimeIndex, city: City, resolution_minutes: int, cfg: FeatureConfig) -> np.ndarray:
    """(len(ts), len(CALENDAR_FEATURES)) float32 for interval starts ``ts_utc``."""
    local = ts_utc.tz_convert(city.tz)
    minutes = (local.hour * 60 + local.minute).to_numpy(dtype=np.float64)
    tod = 2 * np.pi * minutes / 1440.0
    dow = local.dayofweek.to_numpy(dtype=np.float64)
    doy = 2 * np.pi * local.dayofyear.to_numpy(dtype=np.float64) / 365.25
    day = local.tz_localize(None).normalize().to_numpy().astype("datetime64[D]")
    # the years around the span, so that days to and from the nearest holiday cross the new year
    holidays_d, festivals_d = _calendar_dates(city, int(local.year.min()) - 1, int(local.year.max()) + 1,
                                              tuple(cfg.festival_keywords))
    is_holiday = np.isin(day, holidays_d)
    day_i = day.astype(np.int64)
    hol_i = holidays_d.astype(np.int64)
    pos = np.searchsorted(hol_i, day_i, side="left")
    next_h = hol_i[np.clip(pos, 0, len(hol_i) - 1)] if len(hol_i) else day_i + cfg.holiday_clip_days
    prev_pos = np.searchsorted(hol_i, day_i, side="right") - 1
    prev_h = hol_i[np.clip(prev_pos, 0, len(hol_i) - 1)] if len(hol_i) else day_i - cfg.holiday_clip_days
    to_h = np.where(next_h >= day_i, next_h - day_i, cfg.holiday_clip_days)
    from_h = np.where(prev_h <= day_i, day_i - prev_h, cfg.holiday_clip_days)
    fest_i = festivals_d.astype(np.int64)
    if len(fest_i):
        nearest = np.min(np.abs(day_i[:, None] - fest_i[None, :]), axis=1)
        festival = nearest <= cfg.festival_window_days
    else:
        festival = np.zeros(len(day_i), dtype=bool)
    columns = [
        np.sin(tod), np.cos(tod), minutes / resolution_minutes, dow, np.sin(2 * np.pi * dow / 7), np.cos(2 * np.pi * dow / 7),
        (dow >= 5).astype(np.float64), np.sin(doy), np.cos(doy), is_holiday.astype(np.float64), festival.astype(np.float64),
        np.minimum(to_h, cfg.holiday_clip_days), np.minimum(from_h, cfg.holiday_clip_days),
    ]
    return np.stack(columns, axis=1).astype(np.float32)
