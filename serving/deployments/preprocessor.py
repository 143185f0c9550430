"""The Preprocessor deployment: one request's features (history from the store, the
caller's weather, the version's preprocessor), kept in a per-replica LRU because
day-ahead requests repeat."""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd
from ray import serve

from data.errors import NotFoundError, PlatformError
from serving.deployments.replica import MultiplexedModels, VersionedModels, logger, replica_settings
from serving.features import FeatureBuilder, FeaturePacket, ItemError
from training.api import ModelBundle


@serve.deployment
class Preprocessor:
    async def __init__(self, settings: dict[str, Any], feature_cache_size: int, history_cache_s: float,
                       models_per_replica: int) -> None:
        self._settings = replica_settings(settings)
        versions = VersionedModels(self._settings)
        self._models: MultiplexedModels[ModelBundle] = MultiplexedModels(versions.load, models_per_replica)
        self._features = FeatureBuilder(self._settings, feature_cache_size, history_cache_s)
        await asyncio.to_thread(self._features.prepare)
        bundles = await versions.preload(self.bundle, models_per_replica)
        cities = sorted({city for bundle in bundles for city in bundle.cities})
        try:  # the production cities' history in memory before traffic: no request waits on the store
            await asyncio.to_thread(self._features.preload_history, cities)
        except Exception as error:  # the store is down: histories load on first use
            logger.warning("could not preload history: %s", error)

    async def bundle(self, version: str) -> ModelBundle:
        return await self._models.get(version)

    async def features(self, version: str, city: str, start: str, horizon: int,
                       weather: list[dict[str, Any]] | None, as_of: str | None = None) -> FeaturePacket:
        stamp = pd.Timestamp(start)
        issued = None if as_of is None else pd.Timestamp(as_of)
        hit = self._features.cached(version, city, stamp, horizon, weather, issued)
        if hit is not None:
            return hit
        bundle = await self.bundle(version)
        return await asyncio.to_thread(self._features.build, bundle, version, city, stamp, horizon, weather, issued)

    async def features_many(self, version: str, items: list[tuple[str, str, int, list[dict[str, Any]] | None]]
                            ) -> list[FeaturePacket | ItemError]:
        """Features of a whole batch request in one call; an item the caller got wrong becomes an ItemError."""
        bundle = await self.bundle(version)

        def build_all() -> list[FeaturePacket | ItemError]:
            out: list[FeaturePacket | ItemError] = []
            for city, start, horizon, weather, as_of in items:
                try:
                    issued = None if as_of is None else pd.Timestamp(as_of)
                    out.append(self._features.build(bundle, version, city, pd.Timestamp(start), horizon, weather, issued))
                except PlatformError as error:
                    out.append(ItemError(str(error), isinstance(error, NotFoundError)))
            return out

        return await asyncio.to_thread(build_all)

    async def warm(self, version: str) -> bool:
        await self.bundle(version)
        return True
