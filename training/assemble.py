"""Turn fitted members into a bundle: ensemble weights and band calibration from
out-of-fold forecasts.

The out-of-fold set is rolling-origin: the test window (members chose their rounds and
epochs on the validation window before it, so their test forecasts are honest) and, with
``split.cv_folds`` above one, earlier windows before the validation window, each forecast
by the members refitted with the selected settings on everything before it
(``training.pipeline``). Pooling several folds keeps one lucky month from choosing the
weights and gives the conformal bands errors from more than one stretch of weather. The
ensemble's own out-of-fold score is cross-fitted: each half of the days is combined with
weights fitted on the other half.
"""

from __future__ import annotations

import numpy as np

from training.bundle import TrainedBundle
from training.config import TrainConfig
from training.prepared import SplitForecast
from training.training_data import TrainingData
from training.ensemble import GLOBAL, WeightedEnsemble, blend, calibrate, fit_calibration, fit_weights
from training.features.grid import Samples


def truth_mw(samples: Samples) -> np.ndarray:
    return np.nan_to_num((samples.y + samples.level[:, None]) * samples.scale[:, None])


def lead_hours(samples: Samples, resolution_minutes: int) -> np.ndarray:
    """(n, H) hours from each sample's last known load to each of its steps."""
    steps = samples.lead[:, None] + np.arange(samples.y.shape[1])[None, :]
    return steps * resolution_minutes / 60.0


def _mae(p50: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
    return float(np.abs(p50 - y)[mask].mean()) if mask.any() else float("inf")


def _choose_weights(rel: dict[str, np.ndarray], rel_y: np.ndarray, mask: np.ndarray, fold: np.ndarray) -> dict[str, float]:
    """The blend when it beats the best member under cross-fitting on the two halves, else the best member alone."""
    names = sorted(rel)
    blended = np.zeros_like(rel_y)
    for half in (0, 1):
        fit, score = fold == half, fold != half
        weights = fit_weights({n: p[fit] for n, p in rel.items()}, rel_y[fit], mask[fit])
        blended[score] = blend(weights, {n: p[score][..., 1] for n, p in rel.items()})
    best = min(names, key=lambda n: _mae(rel[n][..., 1], rel_y, mask))
    if _mae(blended, rel_y, mask) < _mae(rel[best][..., 1], rel_y, mask):
        return fit_weights(rel, rel_y, mask)
    return {n: float(n == best) for n in names}


def fit_ensemble(forecast: SplitForecast, resolution_minutes: int) -> tuple[WeightedEnsemble, np.ndarray]:
    """The ensemble, and its cross-fitted out-of-sample forecasts (n, H, 3) MW of the samples ``forecast`` covers."""
    preds, oof = forecast.predictions, forecast.targets
    y, mask = truth_mw(oof), oof.ymask
    # Relative units (MW / city scale), so big cities do not dominate the pooled weights.
    rel = {n: p / oof.scale[:, None, None] for n, p in preds.items()}
    rel_y = y / oof.scale[:, None]
    days = (oof.start.astype("datetime64[D]").astype(np.int64))
    fold = (days % 2).astype(int)  # alternate days: both halves span the whole window
    weights = _choose_weights(rel, rel_y, mask, fold)
    hours = lead_hours(oof, resolution_minutes)
    raw = blend(weights, rel)
    calibration = fit_calibration(raw, rel_y, mask, hours)
    # Cross-fitted forecasts: each half combined and calibrated with what the other half taught.
    crossed = np.zeros_like(raw)
    for half in (0, 1):
        fit, score = fold == half, fold != half
        w = _choose_weights({n: p[fit] for n, p in rel.items()}, rel_y[fit], mask[fit], (days[fit] // 2 % 2).astype(int))
        part = blend(w, {n: p[score] for n, p in rel.items()})
        cal = fit_calibration(blend(w, {n: p[fit] for n, p in rel.items()}), rel_y[fit], mask[fit], hours[fit])
        crossed[score] = calibrate(part, cal, hours[score])
    crossed = np.maximum(np.sort(crossed, axis=2), 0.0) * oof.scale[:, None, None]
    return WeightedEnsemble({GLOBAL: [weights]}, calibration=calibration, resolution_minutes=resolution_minutes), crossed


def assemble_bundle(version: str, data: TrainingData, members: dict, config: TrainConfig,
                    test: SplitForecast | None = None, metrics: dict | None = None,
                    folds: dict[str, SplitForecast] | None = None) -> tuple[TrainedBundle, dict[str, np.ndarray]]:
    """The bundle, and the ensemble's cross-fitted forecasts of each out-of-fold window
    ("test", then ``folds``' names) for its honest score.

    ``test``: the members' forecasts of the test window, if already computed (``data.forecast``);
    ``folds``: their refitted versions' forecasts of earlier windows, pooled with it."""
    test = test if test is not None else data.forecast(members, "test")
    windows = {"test": test, **(folds or {})}
    ensemble, crossed = fit_ensemble(SplitForecast.concat(list(windows.values())), data.resolution_minutes)
    bounds = np.cumsum([0] + [len(w.targets) for w in windows.values()])
    by_window = {name: crossed[lo:hi] for name, lo, hi in zip(windows, bounds[:-1], bounds[1:])}
    bundle = TrainedBundle(version, data.preprocessor, members, ensemble, config.model_dump(mode="json"), metrics or {})
    return bundle, by_window
