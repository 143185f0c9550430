"""Per-city models (``global_model: false``): one fitted member per city, routed by city.

A per-city member loaded from a bundle holds no city's model until that city is asked for
(``loader``): a process that forecasts a few of a hundred cities loads those few. Serving
goes further and loads each city's model alone, by its model id (``training.registry.CityModelId``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from training.features.grid import Samples


class PerCityMember:
    """Implements ``training.api.Member`` by dispatching each feature set to its city's model."""

    def __init__(self, name: str, by_city: dict, *, cities: Iterable[str] = (),
                 loader: Callable[[str], object] | None = None) -> None:
        """``by_city``: the models at hand; ``cities``: every city this member covers, whose missing
        models ``loader(city)`` loads on first use."""
        self.name, self.by_city, self._loader = name, dict(by_city), loader
        self.cities: list[str] = sorted(set(cities) | set(by_city))

    def model(self, city: str):
        """The model of ``city`` (loaded now if it was not yet)."""
        if city not in self.by_city:
            if city not in self.cities or self._loader is None:
                raise KeyError(f"{self.name}: no model for city '{city}'")
            self.by_city[city] = self._loader(city)  # a concurrent first use loads it twice, harmlessly
        return self.by_city[city]

    def predict_samples(self, samples: Samples) -> np.ndarray:
        out = np.zeros((*samples.y.shape, 3))
        for city in np.unique(samples.cities):
            index = np.flatnonzero(samples.cities == city)
            out[index] = self.model(str(city)).predict_samples(samples.take(index))
        return out

    def predict(self, batch: list) -> list[np.ndarray]:
        return [self.model(fs.city).predict([fs])[0] for fs in batch]
