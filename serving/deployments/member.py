"""A member deployment: one per registered member, batching concurrent requests with
``@serve.batch``; a batch may mix models and is split by model before predicting.

Its models are multiplexed by model id (``serving.deployments.replica``): a version's model
of this member, or, for a version trained per city, one city's model, routed here by the
request's ``multiplexed_model_id`` and loaded alone (``ModelRegistry.fetch_city_model``)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from ray import serve

from serving.config import Batching
from serving.deployments.replica import MultiplexedModels, VersionedModels, replica_settings
from serving.features import FeaturePacket, ItemError
from training.bundle import load_member
from training.members.registry import get_member
from training.members.spec import TrainedMember
from training.registry import CityModelId, ModelVersion


def _one_torch_thread() -> None:
    """Member replicas share two cores: torch's intra-op thread pool per replica only fights the others."""
    import torch

    torch.set_num_threads(1)


@serve.deployment
class Member:
    """One ensemble member (any registered member: one deployment each), batched across requests."""

    async def __init__(self, member: str, settings: dict[str, Any], max_batch_size: int, batch_wait_timeout_s: float,
                       models_per_replica: int) -> None:
        self.member = member
        if get_member(member).kind == "tensor":
            _one_torch_thread()
        self._versions = VersionedModels(replica_settings(settings))
        self._models: MultiplexedModels[TrainedMember | None] = MultiplexedModels(self._load, models_per_replica)
        self.predict_batch.set_max_batch_size(max_batch_size)
        self.predict_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)
        # Per-city versions are left to their cities' first requests: a replica holds the cities routed to it.
        await self._versions.preload(self._models.get, models_per_replica, wanted=self._global_here)

    def _global_here(self, version: ModelVersion) -> bool:
        return not any(CityModelId.parse(i).member == self.member for i in version.city_models)  # type: ignore[union-attr]

    def _load(self, model_id: str) -> TrainedMember | None:
        """A city's model alone, or this member's model of a version (None: trained without it)."""
        city = CityModelId.parse(model_id)
        if city is not None:
            return load_member(self.member, self._versions.directory.fetch_city_model(city))
        return self._versions.load(model_id).members.get(self.member)

    async def predict(self, packet: FeaturePacket) -> np.ndarray | None:
        """(horizon, 3) MW quantiles; None when this version was trained without this member."""
        return await self.predict_batch(packet, serve.get_multiplexed_model_id())

    @serve.batch(**Batching().model_dump())  # replaced per replica in __init__ from the deployments file
    async def predict_batch(self, packets: list[FeaturePacket], model_ids: list[str]) -> list[np.ndarray | None]:
        """``model_ids``: each request's multiplexed model id ("" when it was not routed: its version)."""
        results: list[np.ndarray | None] = [None] * len(packets)
        keys = [model_id or packet.version for packet, model_id in zip(packets, model_ids)]
        for key in dict.fromkeys(keys):
            model = await self._models.get(key)
            if model is None:
                continue
            indices = [i for i, k in enumerate(keys) if k == key]
            predictions = await asyncio.to_thread(model.predict, [packets[i].features for i in indices])
            for i, prediction in zip(indices, predictions):
                results[i] = prediction
        return results

    async def predict_many(self, packets: list[FeaturePacket | ItemError]) -> list[np.ndarray | None]:
        """A batch request's items in one predict call (refused items stay None). Routed to one
        city's model, it answers that city's items only."""
        model_id = serve.get_multiplexed_model_id()
        city = CityModelId.parse(model_id) if model_id else None
        valid = [i for i, p in enumerate(packets) if isinstance(p, FeaturePacket) and (city is None or p.city == city.city)]
        results: list[np.ndarray | None] = [None] * len(packets)
        if not valid:
            return results
        model = await self._models.get(model_id or packets[valid[0]].version)  # type: ignore[union-attr]
        if model is None:
            return results
        predictions = await asyncio.to_thread(model.predict, [packets[i].features for i in valid])  # type: ignore[union-attr]
        for i, prediction in zip(valid, predictions):
            results[i] = prediction
        return results

    def models(self) -> dict[str, Any]:
        """This replica's multiplexed models: ids held now, loads and evictions so far, the bound."""
        return self._models.status()

    async def warm(self, version: str) -> bool:
        """Load a newly promoted version before its first request; a per-city one is left to its cities' first
        requests (it would only take a city model's place in the LRU)."""
        if self._global_here(await asyncio.to_thread(self._versions.directory.version, version)):
            await self._models.get(version)
        return True
