"""A member deployment: one per registered member, batching concurrent requests with
``@serve.batch``; a batch may mix versions and is split by version before predicting."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from ray import serve

from serving.config import Batching
from serving.deployments.replica import MODELS_PER_REPLICA, VersionedModels, replica_settings
from serving.features import FeaturePacket, ItemError
from training.api import ModelBundle
from training.members.registry import get_member


def _one_torch_thread() -> None:
    """Member replicas share two cores: torch's intra-op thread pool per replica only fights the others."""
    import torch

    torch.set_num_threads(1)


@serve.deployment
class Member:
    """One ensemble member (any registered member: one deployment each), batched across requests."""

    async def __init__(self, member: str, settings: dict[str, Any], max_batch_size: int, batch_wait_timeout_s: float) -> None:
        self.member = member
        if get_member(member).kind == "tensor":
            _one_torch_thread()
        self._models = VersionedModels(replica_settings(settings))
        self.predict_batch.set_max_batch_size(max_batch_size)
        self.predict_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)
        await self._models.preload(self.bundle)

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_REPLICA)
    async def bundle(self, version: str) -> ModelBundle:
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
