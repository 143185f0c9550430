"""Forecast accuracy metrics that every report of the platform uses (docs/contracts.md, "Metrics everyone reports").

One implementation, vectorised in numpy, so the training pipeline, the backtest, the
registry's promotion gate and the benchmarks can never disagree on what "MAPE" means.

Conventions (stable; reports and docs rely on them):

- ``actual`` has shape ``(n,)``; ``quantiles`` has shape ``(n, 3)`` with columns
  P10, P50, P90 (``training.api.QUANTILES``). Point metrics use the P50 column.
- MAPE and sMAPE are **percentages** (``4.2`` means 4.2 %). MASE, RMSE and pinball are in
  the load's own units (MW) except MASE, which is unit-free. Coverage is a **fraction**
  of actuals inside ``[P10, P90]`` (0.8 is the nominal value).
- NaN handling: a step whose actual or any of its three quantiles is NaN or infinite is
  left out of every metric (a gap in the data must not count as an error of the model).
- Zero actuals: MAPE leaves out steps whose actual is exactly 0 (the ratio is undefined);
  sMAPE leaves out steps where actual and forecast are both 0 (0/0). Everything else keeps
  them. A metric with no step left is NaN.
- MASE divides the mean absolute P50 error by the mean absolute error of the in-sample
  seasonal-naive forecast ``y[t] - y[t - season]`` over ``insample`` (the history before
  the forecast window). The platform's default season is **one day** (``season_steps(res,
  "day")``: 96 steps at 15 minutes), the shortest cycle every load series has. Without
  ``insample`` (or with too short a history) MASE is NaN.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

METRIC_NAMES: tuple[str, ...] = ("mape", "smape", "mase", "rmse", "pinball", "coverage", "within_5pct")
#: Quantile levels of the three forecast columns (same as ``training.api.QUANTILES``).
LEVELS = np.array([0.1, 0.5, 0.9])
Period = Literal["day", "week"]


def season_steps(resolution_minutes: int, period: Period = "day") -> int:
    """Steps in one seasonal period at a resolution: 96 for a day of 15-minute blocks."""
    minutes = 24 * 60 if period == "day" else 7 * 24 * 60
    if resolution_minutes <= 0 or minutes % resolution_minutes:
        raise ValueError(f"resolution_minutes={resolution_minutes} does not divide one {period}")
    return minutes // resolution_minutes


def _prepare(actual: np.ndarray, quantiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and drop steps with any non-finite value."""
    a = np.asarray(actual, dtype=float).reshape(-1)
    q = np.asarray(quantiles, dtype=float)
    if q.ndim == 1:
        q = np.repeat(q[:, None], 3, axis=1)
    if q.shape != (a.shape[0], 3):
        raise ValueError(f"quantiles must have shape ({a.shape[0]}, 3), got {q.shape}")
    keep = np.isfinite(a) & np.isfinite(q).all(axis=1)
    return a[keep], q[keep]


def _mean_or_nan(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error of a point forecast, in percent; zero actuals left out."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    keep = np.isfinite(a) & np.isfinite(f) & (a != 0)
    return 100.0 * _mean_or_nan(np.abs(a[keep] - f[keep]) / np.abs(a[keep]))


def within_share(actual: np.ndarray, forecast: np.ndarray, tolerance: float = 0.05) -> float:
    """Share of blocks whose P50 is within ``tolerance`` of the actual (the operators' deviation figure)."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    keep = np.isfinite(a) & np.isfinite(f) & (a != 0)
    return _mean_or_nan((np.abs(a[keep] - f[keep]) <= tolerance * np.abs(a[keep])).astype(float))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent (0-200): ``2|a-f| / (|a|+|f|)``; steps with a = f = 0 left out."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    denominator = np.abs(a) + np.abs(f)
    keep = np.isfinite(a) & np.isfinite(f) & (denominator > 0)
    return 100.0 * _mean_or_nan(2.0 * np.abs(a[keep] - f[keep]) / denominator[keep])


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error of a point forecast, in the load's units."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    keep = np.isfinite(a) & np.isfinite(f)
    return float(np.sqrt(_mean_or_nan((a[keep] - f[keep]) ** 2)))


def seasonal_naive_scale(insample: np.ndarray | None, season: int) -> float:
    """Mean absolute in-sample error of the seasonal-naive forecast; NaN when not computable."""
    if insample is None:
        return float("nan")
    y = np.asarray(insample, dtype=float).reshape(-1)
    if y.size <= season:
        return float("nan")
    diffs = np.abs(y[season:] - y[:-season])
    scale = _mean_or_nan(diffs[np.isfinite(diffs)])
    return scale if scale > 0 else float("nan")


def mase(actual: np.ndarray, forecast: np.ndarray, insample: np.ndarray | None, season: int) -> float:
    """Mean absolute error scaled by the in-sample seasonal-naive error (see module docstring)."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    keep = np.isfinite(a) & np.isfinite(f)
    return _mean_or_nan(np.abs(a[keep] - f[keep])) / seasonal_naive_scale(insample, season)


def pinball(actual: np.ndarray, quantiles: np.ndarray) -> float:
    """Pinball (quantile) loss averaged over steps and over the P10, P50 and P90 columns."""
    a, q = _prepare(actual, quantiles)
    if not a.size:
        return float("nan")
    diff = a[:, None] - q
    loss = np.maximum(LEVELS * diff, (LEVELS - 1.0) * diff)
    return float(loss.mean())


def coverage(actual: np.ndarray, quantiles: np.ndarray) -> float:
    """Share of actuals inside the closed P10-P90 band (nominal 0.8)."""
    a, q = _prepare(actual, quantiles)
    if not a.size:
        return float("nan")
    return float(((a >= q[:, 0]) & (a <= q[:, 2])).mean())


def evaluate(
    actual: np.ndarray,
    quantiles: np.ndarray,
    *,
    insample: np.ndarray | None = None,
    season: int = 96,
) -> dict[str, float]:
    """Every metric (``METRIC_NAMES``) of one quantile forecast against the actuals.

    ``season`` is the MASE seasonality in steps (one day by default at 15 minutes; pass
    ``season_steps(resolution_minutes)`` for other resolutions).
    """
    a, q = _prepare(actual, quantiles)
    p50 = q[:, 1]
    return {
        "mape": mape(a, p50),
        "smape": smape(a, p50),
        "mase": mase(a, p50, insample, season),
        "rmse": rmse(a, p50),
        "pinball": pinball(a, q),
        "coverage": coverage(a, q),
        "within_5pct": within_share(a, p50),
    }
