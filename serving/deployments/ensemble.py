"""The Ensemble deployment: the version's weights over the members that answered, and which
members of a version answer per city (their per-city model ids, which the ServeEngine routes by)."""

from __future__ import annotations

from typing import Any

import numpy as np
from ray import serve

from serving.deployments.replica import MultiplexedModels, VersionedModels, replica_settings
from training.api import ModelBundle
from training.members.per_city import PerCityMember
from training.registry import CityModelId


@serve.deployment
class Ensemble:
    async def __init__(self, settings: dict[str, Any], models_per_replica: int) -> None:
        versions = VersionedModels(replica_settings(settings))
        self._models: MultiplexedModels[ModelBundle] = MultiplexedModels(versions.load, models_per_replica)
        await versions.preload(self.bundle, models_per_replica)

    async def bundle(self, version: str) -> ModelBundle:
        return await self._models.get(version)

    async def combine(self, version: str, city: str, predictions: dict[str, np.ndarray],
                      lead_steps: int = 0) -> tuple[np.ndarray, dict[str, float]]:
        """Weighted quantiles over the members present (weights renormalised by the bundle's ensemble)."""
        bundle = await self.bundle(version)
        return bundle.ensemble.combine(city, predictions, lead_steps)

    async def combine_many(self, version: str, items: list[tuple[str, dict[str, np.ndarray], int]]
                           ) -> list[tuple[np.ndarray, dict[str, float]]]:
        bundle = await self.bundle(version)
        return [bundle.ensemble.combine(city, predictions, lead) for city, predictions, lead in items]

    async def members_needed(self, version: str, city: str) -> frozenset[str]:
        """Members with a positive weight for ``city`` in ``version`` (the ingress runs only these)."""
        bundle = await self.bundle(version)
        return bundle.ensemble.members_needed(city)

    async def model_ids(self, version: str, city: str) -> dict[str, str]:
        """Member -> the model id of ``city``'s own model, for the members ``version`` trained per city
        (none for a global version). A per-city member loaded here holds no city's model."""
        bundle = await self.bundle(version)
        return {name: str(CityModelId(version=version, member=name, city=city))
                for name, member in bundle.members.items() if isinstance(member, PerCityMember) and city in member.cities}

    async def warm(self, version: str) -> bool:
        await self.bundle(version)
        return True
