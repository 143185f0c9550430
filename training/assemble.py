"""Turn fitted members into a bundle: ensemble weights and band calibration from
out-of-fold forecasts.

The out-of-fold set is rolling-origin: the test window (members chose their rounds and
epochs on the validation window before it, so their test forecasts are honest) and, with
``split.cv_folds`` above one, earlier windows before the validation window, each forecast
by the members refitted with the selected settings on everything up to ``validation_days``
before it, as stale as the test window's (``training.pipeline``). Pooling several folds keeps one lucky month from choosing the
weights and gives the conformal bands errors from more than one stretch of weather. The
ensemble's own out-of-fold score is cross-fitted: each half of the days is combined with
weights fitted on the other half. Weights are pooled over the cities and then chosen per
city (``_weights_by_city``).
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


def _alternate_days(starts: np.ndarray) -> np.ndarray:
    """0/1 by alternate calendar days among those present: both halves span every window."""
    days = starts.astype("datetime64[D]").astype(np.int64)
    return (np.searchsorted(np.unique(days), days) % 2).astype(int)


def _choose_weights(rel: dict[str, np.ndarray], rel_y: np.ndarray, mask: np.ndarray, fold: np.ndarray,
                    prior: dict[str, float] | None = None) -> dict[str, float]:
    """The candidate with the lowest cross-fitted MAE (fitted on one half of the days, scored
    on the other): a blend fitted here, the best member alone, or ``prior`` (the weights
    pooled over every city) as is. The winner is refitted on all rows."""
    names = sorted(rel)
    blended, best_alone = np.zeros_like(rel_y), np.zeros_like(rel_y)
    for half in (0, 1):
        fit, score = fold == half, fold != half
        weights = fit_weights({n: p[fit] for n, p in rel.items()}, rel_y[fit], mask[fit])
        blended[score] = blend(weights, {n: p[score][..., 1] for n, p in rel.items()})
        best_there = min(names, key=lambda n: _mae(rel[n][fit][..., 1], rel_y[fit], mask[fit]))
        best_alone[score] = rel[best_there][score][..., 1]
    scores = {"blend": _mae(blended, rel_y, mask), "best": _mae(best_alone, rel_y, mask)}
    if prior is not None:
        scores["prior"] = _mae(blend(prior, {n: p[..., 1] for n, p in rel.items()}), rel_y, mask)
    chosen = min(scores, key=scores.get)
    if chosen == "prior":
        return dict(prior)
    if chosen == "blend":
        return fit_weights(rel, rel_y, mask)
    best = min(names, key=lambda n: _mae(rel[n][..., 1], rel_y, mask))
    return {n: float(n == best) for n in names}


def _weights_by_city(rel: dict[str, np.ndarray], rel_y: np.ndarray, mask: np.ndarray, starts: np.ndarray,
                     cities: np.ndarray) -> dict[str, list[dict[str, float]]]:
    """Weights pooled over every city (``GLOBAL``), and per city whichever of those, its own
    blend or its best member does best on it under cross-fitting: a member that is good in
    most cities but poor in one keeps its weight where it helps only."""
    pooled = _choose_weights(rel, rel_y, mask, _alternate_days(starts))
    out = {GLOBAL: [pooled]}
    for city in np.unique(cities):
        rows = cities == city
        out[str(city)] = [_choose_weights({n: p[rows] for n, p in rel.items()}, rel_y[rows], mask[rows],
                                          _alternate_days(starts[rows]), prior=pooled)]
    return out


def _blend_by_city(weights: dict[str, list[dict[str, float]]], rel: dict[str, np.ndarray], cities: np.ndarray) -> np.ndarray:
    out = np.zeros_like(next(iter(rel.values())))
    for city in np.unique(cities):
        rows = cities == city
        out[rows] = blend((weights.get(str(city)) or weights[GLOBAL])[0], {n: p[rows] for n, p in rel.items()})
    return out


def fit_ensemble(forecast: SplitForecast, resolution_minutes: int) -> tuple[WeightedEnsemble, np.ndarray]:
    """The ensemble, and its cross-fitted out-of-fold forecasts (n, H, 3) MW of the samples ``forecast`` covers."""
    preds, oof = forecast.predictions, forecast.targets
    y, mask = truth_mw(oof), oof.ymask
    # Relative units (MW / city scale), so big cities do not dominate the pooled weights.
    rel = {n: p / oof.scale[:, None, None] for n, p in preds.items()}
    rel_y = y / oof.scale[:, None]
    cities, starts = oof.cities.astype(str), oof.start
    weights = _weights_by_city(rel, rel_y, mask, starts, cities)
    hours = lead_hours(oof, resolution_minutes)
    calibration = fit_calibration(_blend_by_city(weights, rel, cities), rel_y, mask, hours)
    # Cross-fitted forecasts: each half combined and calibrated with what the other half taught.
    fold = _alternate_days(starts)
    crossed = np.zeros((len(rel_y), rel_y.shape[1], 3))
    for half in (0, 1):
        fit, score = fold == half, fold != half
        part = {n: p[fit] for n, p in rel.items()}
        w = _weights_by_city(part, rel_y[fit], mask[fit], starts[fit], cities[fit])
        cal = fit_calibration(_blend_by_city(w, part, cities[fit]), rel_y[fit], mask[fit], hours[fit])
        crossed[score] = calibrate(_blend_by_city(w, {n: p[score] for n, p in rel.items()}, cities[score]), cal, hours[score])
    crossed = np.maximum(np.sort(crossed, axis=2), 0.0) * oof.scale[:, None, None]
    return WeightedEnsemble(weights, calibration=calibration, resolution_minutes=resolution_minutes), crossed


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
