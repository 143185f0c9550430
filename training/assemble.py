"""Turn fitted members into a bundle: ensemble weights on the validation window, per city.

Weights are fitted per city (and per horizon band when configured) plus one set over all
cities, used for a city without its own.
"""

from __future__ import annotations

import numpy as np

from training.bundle import TrainedBundle
from training.config import TrainConfig
from training.data_prep import TrainingData
from training.ensemble import GLOBAL, WeightedEnsemble, fit_spread, fit_weights
from training.features.grid import Samples


def truth_mw(samples: Samples) -> np.ndarray:
    return np.nan_to_num((samples.y + samples.level[:, None]) * samples.scale[:, None])


def member_predictions(members: dict, samples: Samples) -> dict[str, np.ndarray]:
    return {name: member.predict_samples(samples) for name, member in members.items()}


def fit_ensemble(members: dict, validation: Samples, bands: int) -> WeightedEnsemble:
    """Weights on the validation window: pooled over cities (scaled), then per city.

    A few weeks of one city's validation are noisy, so a city keeps its own NNLS weights
    only when they beat the pooled weights on that city by ``CITY_MARGIN``; the pooled
    weights in turn are kept only when they beat the best single member by that margin.
    """
    preds = member_predictions(members, validation)
    y, mask = truth_mw(validation), validation.ymask
    # Relative weighting: divide by the city scale so big cities do not dominate the pooled weights.
    rel = {n: p / validation.scale[:, None, None] for n, p in preds.items()}
    rel_y = y / validation.scale[:, None]
    best = min(rel, key=lambda n: _mae(rel[n][..., 1], rel_y, mask))
    pooled = _keep_if_better(fit_weights(rel, rel_y, mask, bands), [{n: float(n == best) for n in rel}] * bands,
                             rel, rel_y, mask)
    weights = {GLOBAL: pooled}
    for city in np.unique(validation.cities):
        index = np.flatnonzero(validation.cities == city)
        city_preds = {n: p[index] for n, p in preds.items()}
        own = fit_weights(city_preds, y[index], mask[index], bands)
        weights[str(city)] = _keep_if_better(own, pooled, city_preds, y[index], mask[index], CITY_MARGIN)
    ensemble = WeightedEnsemble(weights)
    spreads: dict[str, list[float]] = {}
    combined = np.zeros((len(validation), validation.y.shape[1], 3))
    for i, city in enumerate(validation.cities):
        combined[i], _ = ensemble.combine(str(city), {n: p[i] for n, p in preds.items()})
    for city in np.unique(validation.cities):
        index = np.flatnonzero(validation.cities == city)
        spreads[str(city)] = fit_spread(combined[index], y[index], mask[index])
    spreads[GLOBAL] = fit_spread(combined / validation.scale[:, None, None], rel_y, mask)
    return WeightedEnsemble(weights, spreads)


def _blend_mae(bands: list[dict[str, float]], preds: dict[str, np.ndarray], y: np.ndarray, mask: np.ndarray) -> float:
    blend = WeightedEnsemble({GLOBAL: bands})
    combined = np.stack([blend.combine(GLOBAL, {n: p[i] for n, p in preds.items()})[0] for i in range(len(y))])
    return _mae(combined[..., 1], y, mask)


def _keep_if_better(candidate: list[dict[str, float]], fallback: list[dict[str, float]], preds: dict[str, np.ndarray],
                    y: np.ndarray, mask: np.ndarray, margin: float | None = None) -> list[dict[str, float]]:
    """``candidate`` only if its validation MAE beats ``fallback``'s by ``margin`` (default ``BLEND_MARGIN``)."""
    margin = BLEND_MARGIN if margin is None else margin
    if _blend_mae(candidate, preds, y, mask) < _blend_mae(fallback, preds, y, mask) * (1 - margin):
        return candidate
    return [dict(band) for band in fallback]


#: Relative MAE gain on validation a blend needs over the best member to be kept.
BLEND_MARGIN = 0.05
#: A city's own weights must beat the pooled ones by this much on its (short, noisy) validation.
CITY_MARGIN = 0.10


def _mae(p50: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
    return float(np.abs(p50 - y)[mask].mean()) if mask.any() else float("inf")


def assemble_bundle(version: str, data: TrainingData, members: dict, config: TrainConfig, metrics: dict | None = None) -> TrainedBundle:
    ensemble = fit_ensemble(members, data.validation, config.ensemble_horizon_bands)
    return TrainedBundle(version, data.preprocessor, members, ensemble, config.model_dump(mode="json"), metrics or {})
