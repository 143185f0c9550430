"""Seasonal-naive baselines: the same block one day or one week earlier.

Their P10/P90 come from empirical quantiles of the same method's errors over the recent
past (``error_days`` before the issue time), so pinball loss and coverage are defined for
the baselines just as for the models.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

PERIOD_DAYS = {"day": 1, "week": 7}


def seasonal_naive(
    history: pd.DataFrame, start: pd.Timestamp, horizon: int, resolution_minutes: int,
    period: Literal["day", "week"], error_days: int = 28, known_until: pd.Timestamp | None = None,
) -> np.ndarray:
    """(horizon, 3) MW quantiles; history rows are load records, only those before ``known_until``
    (the issue time, default ``start``) are used: each step takes the most recent same block known then."""
    if period not in PERIOD_DAYS:
        raise ValueError(f"period must be 'day' or 'week', got {period!r}")
    start = pd.Timestamp(start).tz_convert("UTC")
    known = start if known_until is None else min(pd.Timestamp(known_until).tz_convert("UTC"), start)
    step = pd.Timedelta(minutes=resolution_minutes)
    lag = int(PERIOD_DAYS[period] * 1440 // resolution_minutes)
    spd = 1440 // resolution_minutes
    gap = int((start - known) / step)  # steps between the issue time and the first target
    span = error_days * spd + lag + horizon
    grid = pd.date_range(start - span * step, start, freq=step, inclusive="left", tz="UTC").as_unit("us")
    frame = history.copy()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.as_unit("us")
    frame = frame[frame["ts"] < known]
    if "load_shedding" in frame:
        frame = frame[~frame["load_shedding"].astype(bool)]
    values = frame.drop_duplicates("ts", keep="last").set_index("ts")["load_mw"].reindex(grid).to_numpy(dtype=float)
    series = np.concatenate([values, np.full(horizon, np.nan)])  # index len(grid) + h is the target step h
    n = len(grid)
    # P50: the same block whole periods earlier, the fewest periods that reach back before the issue time.
    p50 = np.array([series[n + h - lag * (1 + (h + gap) // lag)] for h in range(horizon)])
    p50 = pd.Series(p50).ffill().bfill().to_numpy()
    if np.isnan(p50).all():
        p50 = np.full(horizon, np.nanmean(values) if np.isfinite(values).any() else 0.0)
    # Relative errors of this method over the recent window: actual / naive - 1.
    idx = np.arange(lag, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = series[idx] / series[idx - lag] - 1.0
    rel = rel[np.isfinite(rel)]
    lo_q, hi_q = (np.quantile(rel, [0.1, 0.9]) if rel.size >= 10 else (-0.1, 0.1))
    out = np.stack([p50 * (1 + lo_q), p50, p50 * (1 + hi_q)], axis=1)
    return np.maximum(np.sort(out, axis=1), 0.0)
