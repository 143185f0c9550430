"""Drift as the population stability index (PSI) of a recent window against a reference.

The reference is the model's training window restricted to the recent window's calendar
months, so a model trained on a full year is compared with its own Decembers in December
(the season is not drift). When the training window holds none of those months (a model
trained on spring data, monitored in summer), the reference is the weeks just before the
recent window instead: drift then means "changed lately", which is still worth an alert.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Share given to an empty bin so that the log stays finite (the usual PSI convention).
EPSILON = 1e-4


def psi(reference: np.ndarray, recent: np.ndarray, bins: int = 10) -> float:
    """PSI = sum((q - p) * ln(q / p)) over quantile bins of the reference; 0 means the same distribution."""
    reference = np.asarray(reference, dtype=float)
    recent = np.asarray(recent, dtype=float)
    reference, recent = reference[np.isfinite(reference)], recent[np.isfinite(recent)]
    if reference.size == 0 or recent.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:  # a constant reference: any change of value is a shift
        return 0.0 if np.allclose(recent, reference[0]) else float("inf")
    inner = edges[1:-1]
    p = np.bincount(np.searchsorted(inner, reference, side="right"), minlength=inner.size + 1) / reference.size
    q = np.bincount(np.searchsorted(inner, recent, side="right"), minlength=inner.size + 1) / recent.size
    p, q = np.maximum(p, EPSILON), np.maximum(q, EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def reference_window(series: pd.DataFrame, column: str, recent_start: pd.Timestamp, train_start: pd.Timestamp | None,
                     train_end: pd.Timestamp | None, tz: str, reference_weeks: int, min_rows: int) -> tuple[np.ndarray, str]:
    """Reference values and what they are (``"training months"`` or ``"recent weeks"``)."""
    local_months = set(series.loc[series["ts"] >= recent_start, "ts"].dt.tz_convert(tz).dt.month)
    if train_start is not None and train_end is not None:
        training = series[(series["ts"] >= train_start) & (series["ts"] < min(train_end, recent_start))]
        same_months = training[training["ts"].dt.tz_convert(tz).dt.month.isin(local_months)]
        if len(same_months) >= min_rows:
            return same_months[column].to_numpy(float), "training months"
    before = series[(series["ts"] < recent_start) & (series["ts"] >= recent_start - pd.Timedelta(weeks=reference_weeks))]
    return before[column].to_numpy(float), "recent weeks"
