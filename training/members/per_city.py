"""Per-city models (``global_model: false``): one fitted member per city, routed by city."""

from __future__ import annotations

import numpy as np

from training.features.grid import Samples


class PerCityMember:
    """Implements ``training.api.Member`` by dispatching each feature set to its city's model."""

    def __init__(self, name: str, by_city: dict) -> None:
        self.name, self.by_city = name, by_city

    def _model(self, city: str):
        if city not in self.by_city:
            raise KeyError(f"{self.name}: no model for city '{city}'")
        return self.by_city[city]

    def predict_samples(self, samples: Samples) -> np.ndarray:
        out = np.zeros((*samples.y.shape, 3))
        for city in np.unique(samples.cities):
            index = np.flatnonzero(samples.cities == city)
            out[index] = self._model(str(city)).predict_samples(samples.take(index))
        return out

    def predict(self, batch: list) -> list[np.ndarray]:
        return [self._model(fs.city).predict([fs])[0] for fs in batch]
