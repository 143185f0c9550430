"""Turn fitted members into a bundle: ensemble weights on the validation window, per city.

Weights are fitted per city (and per horizon band when configured) plus one set over all
cities, used for a city without its own.
"""

from __future__ import annotations

import numpy as np

from training.bundle import TrainedBundle
from training.config import TrainConfig
from training.data_prep import TrainingData
from training.ensemble import GLOBAL, WeightedEnsemble, fit_weights
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
        weights[str(city)] = fit_weights({n: p[index] for n, p in preds.items()}, y[index], mask[index], bands)
    return WeightedEnsemble(weights)


def assemble_bundle(version: str, data: TrainingData, members: dict, config: TrainConfig, metrics: dict | None = None) -> TrainedBundle:
    ensemble = fit_ensemble(members, data.validation, config.ensemble_horizon_bands)
    return TrainedBundle(version, data.preprocessor, members, ensemble, config.model_dump(mode="json"), metrics or {})
