"""The Ensemble deployment: the version's weights over the members that answered."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from ray import serve

from serving.deployments.replica import MODELS_PER_REPLICA, VersionedModels, replica_settings
from training.api import ModelBundle


@serve.deployment
class Ensemble:
    async def __init__(self, settings: dict[str, Any]) -> None:
        self._models = VersionedModels(replica_settings(settings))
        await self._models.preload(self.bundle)

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)
    async def bundle(self, version: str) -> ModelBundle:
        return await asyncio.to_thread(self._models.load, version)

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

    async def warm(self, version: str) -> bool:
        await self.bundle(version)
        return True
