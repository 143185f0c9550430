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
    preds = member_predictions(members, validation)
    y, mask = truth_mw(validation), validation.ymask
    # Relative weighting: divide by the city scale so big cities do not dominate the global weights.
    rel = {n: p / validation.scale[:, None, None] for n, p in preds.items()}
    weights = {GLOBAL: fit_weights(rel, y / validation.scale[:, None], mask, bands)}
    for city in np.unique(validation.cities):
        index = np.flatnonzero(validation.cities == city)
        city_preds = {n: p[index] for n, p in preds.items()}
        weights[str(city)] = _guard_best_member(
            fit_weights(city_preds, y[index], mask[index], bands), city_preds, y[index], mask[index])
    ensemble = WeightedEnsemble(weights)
    spreads: dict[str, list[float]] = {}
    combined = np.zeros((len(validation), validation.y.shape[1], 3))
    for i, city in enumerate(validation.cities):
        combined[i], _ = ensemble.combine(str(city), {n: p[i] for n, p in preds.items()})
    for city in np.unique(validation.cities):
        index = np.flatnonzero(validation.cities == city)
        spreads[str(city)] = fit_spread(combined[index], y[index], mask[index])
    spreads[GLOBAL] = fit_spread(combined / validation.scale[:, None, None], y / validation.scale[:, None], mask)
    return WeightedEnsemble(weights, spreads)


#: Relative MAE gain on validation a blend needs over the best member to be kept.
BLEND_MARGIN = 0.05


def _mae(p50: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
    return float(np.abs(p50 - y)[mask].mean()) if mask.any() else float("inf")


def _guard_best_member(bands: list[dict[str, float]], preds: dict[str, np.ndarray], y: np.ndarray,
                       mask: np.ndarray) -> list[dict[str, float]]:
    """Keep the blend only if, on validation, it beats the best single member by a margin.

    With a few weeks of validation NNLS happily gives weight to a member that merely fits
    that window; demanding a clear gain keeps the ensemble no worse than its best member
    out of sample."""
    blend = WeightedEnsemble({GLOBAL: bands})
    combined = np.stack([blend.combine(GLOBAL, {n: p[i] for n, p in preds.items()})[0] for i in range(len(y))])
    best = min(preds, key=lambda n: _mae(preds[n][..., 1], y, mask))
    if _mae(preds[best][..., 1], y, mask) * (1 - BLEND_MARGIN) < _mae(combined[..., 1], y, mask):
        return [{n: float(n == best) for n in preds} for _ in bands]
    return bands


def assemble_bundle(version: str, data: TrainingData, members: dict, config: TrainConfig, metrics: dict | None = None) -> TrainedBundle:
    ensemble = fit_ensemble(members, data.validation, config.ensemble_horizon_bands)
    return TrainedBundle(version, data.preprocessor, members, ensemble, config.model_dump(mode="json"), metrics or {})
