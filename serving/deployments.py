"""The model deployments of the Serve graph: Preprocessor -> members -> Ensemble.

Each replica loads model versions on demand through ``@serve.multiplexed`` (the version
id is the model id), so per-city versions and a freshly promoted version load without a
redeploy. Members batch concurrent requests with ``@serve.batch``; a batch may mix
versions and is split by version before predicting.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pandas as pd
from ray import serve

import logging

from data.settings import PlatformSettings, get_settings, load_settings
from data.errors import NotFoundError, PlatformError
from serving.config import Batching
from serving.features import FeatureBuilder, FeaturePacket, ItemError

#: Versions kept loaded per replica; older ones are evicted (LRU) by Serve's multiplexer.
MODELS_PER_REPLICA = 3
logger = logging.getLogger("ray.serve")


def replica_settings(overrides: dict[str, Any]) -> PlatformSettings:
    """Settings inside a replica: the builder's overrides, else configs + environment."""
    return load_settings(**overrides) if overrides else get_settings()


class _VersionedModels:
    """Loads a registry version into this replica (blocking work off the event loop)."""

    def __init__(self, settings: PlatformSettings) -> None:
        from serving.models import ModelDirectory

        self._directory = ModelDirectory(settings)

    def load(self, version: str) -> Any:
        from training.bundle import load_bundle

        return load_bundle(self._directory.fetch(version))

    async def preload(self, loader: Any) -> None:
        """Load today's production versions before the replica takes traffic, so the first
        requests do not pay for model loading (and are not cut off by the member timeout)."""
        try:
            versions = await asyncio.to_thread(self._directory.production_versions)
            for version in sorted(versions)[-MODELS_PER_REPLICA:]:
                await loader(version)
        except Exception as error:  # no registry yet: versions load on first use
            logger.warning("could not preload production models: %s", error)


def _one_thread_per_replica() -> None:
    """Three member replicas share two cores: intra-op thread pools per replica only fight each other."""
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


@serve.deployment
class Preprocessor:
    async def __init__(self, settings: dict[str, Any], feature_cache_size: int, history_cache_s: float) -> None:
        self._settings = replica_settings(settings)
        self._models = _VersionedModels(self._settings)
        self._features = FeatureBuilder(self._settings, feature_cache_size, history_cache_s)
        await asyncio.to_thread(self._features.prepare)
        await self._models.preload(self.bundle)

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)
    async def bundle(self, version: str) -> Any:
        return await asyncio.to_thread(self._models.load, version)

    async def features(self, version: str, city: str, start: str, horizon: int,
                       weather: list[dict[str, Any]] | None) -> FeaturePacket:
        stamp = pd.Timestamp(start)
        hit = self._features.cached(version, city, stamp, horizon, weather)
        if hit is not None:
            return hit
        bundle = await self.bundle(version)
        return await asyncio.to_thread(self._features.build, bundle, version, city, stamp, horizon, weather)

    async def features_many(self, version: str, items: list[tuple[str, str, int, list[dict[str, Any]] | None]]
                            ) -> list[FeaturePacket | ItemError]:
        """Features of a whole batch request in one call; an item the caller got wrong becomes an ItemError."""
        bundle = await self.bundle(version)

        def build_all() -> list[FeaturePacket | ItemError]:
            out: list[FeaturePacket | ItemError] = []
            for city, start, horizon, weather in items:
                try:
                    out.append(self._features.build(bundle, version, city, pd.Timestamp(start), horizon, weather))
                except PlatformError as error:
                    out.append(ItemError(str(error), isinstance(error, NotFoundError)))
            return out

        return await asyncio.to_thread(build_all)

    async def warm(self, version: str) -> bool:
        await self.bundle(version)
        return True


@serve.deployment
class Member:
    """One ensemble member (xgboost, lstm or transformer), batched across requests."""

    async def __init__(self, member: str, settings: dict[str, Any], max_batch_size: int,
                       batch_wait_timeout_s: float) -> None:
        self.member = member
        _one_thread_per_replica()
        self._models = _VersionedModels(replica_settings(settings))
        self.predict_batch.set_max_batch_size(max_batch_size)
        self.predict_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)
        await self._models.preload(self.bundle)

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)
    async def bundle(self, version: str) -> Any:
        return await asyncio.to_thread(self._models.load, version)

    async def predict(self, packet: FeaturePacket) -> np.ndarray | None:
        """(horizon, 3) MW quantiles; None when this version was trained without this member."""
        return await self.predict_batch(packet)

    @serve.batch(**Batching().model_dump())  # replaced per replica in __init__ from the deployments file
    async def predict_batch(self, packets: list[FeaturePacket]) -> list[np.ndarray | None]:
        results: list[np.ndarray | None] = [None] * len(packets)
        for version in {p.version for p in packets}:
            bundle = await self.bundle(version)
            model = bundle.members.get(self.member)
            if model is None:
                continue
            indices = [i for i, p in enumerate(packets) if p.version == version]
            predictions = await asyncio.to_thread(model.predict, [packets[i].features for i in indices])
            for i, prediction in zip(indices, predictions):
                results[i] = prediction
        return results

    async def predict_many(self, packets: list[FeaturePacket | ItemError]) -> list[np.ndarray | None]:
        """A batch request's items in one predict call (refused items stay None)."""
        valid = [i for i, p in enumerate(packets) if isinstance(p, FeaturePacket)]
        results: list[np.ndarray | None] = [None] * len(packets)
        if not valid:
            return results
        bundle = await self.bundle(packets[valid[0]].version)  # type: ignore[union-attr]
        model = bundle.members.get(self.member)
        if model is None:
            return results
        predictions = await asyncio.to_thread(model.predict, [packets[i].features for i in valid])  # type: ignore[union-attr]
        for i, prediction in zip(valid, predictions):
            results[i] = prediction
        return results

    async def warm(self, version: str) -> bool:
        await self.bundle(version)
        return True


@serve.deployment
class Ensemble:
    async def __init__(self, settings: dict[str, Any]) -> None:
        self._models = _VersionedModels(replica_settings(settings))
        await self._models.preload(self.bundle)

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)
    async def bundle(self, version: str) -> Any:
        return await asyncio.to_thread(self._models.load, version)

    async def combine(self, version: str, city: str, predictions: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, float]]:
        """Weighted quantiles over the members present (weights renormalised by the bundle's ensemble)."""
        bundle = await self.bundle(version)
        return bundle.ensemble.combine(city, predictions)

    async def combine_many(self, version: str, items: list[tuple[str, dict[str, np.ndarray]]]
                           ) -> list[tuple[np.ndarray, dict[str, float]]]:
        bundle = await self.bundle(version)
        return [bundle.ensemble.combine(city, predictions) for city, predictions in items]

    async def warm(self, version: str) -> bool:
        await self.bundle(version)
        return True
