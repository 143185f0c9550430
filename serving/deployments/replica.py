"""What every model deployment's replica does the same way: read its settings, load models
from the registry through ``@serve.multiplexed``, and preload today's production before
taking traffic.

A model id is a registry version (a bundle over every city) or, for a version trained per
city, one city's model of one member (``<version>/<member>/<CITY>``, ``CityModelId``): the
ServeEngine sets it as the request's ``multiplexed_model_id``, so Serve routes a city to a
replica that already holds its model. Each replica keeps at most ``models_per_replica`` of
them (the deployment's entry in configs/serve/deployments.yaml) and Serve's multiplexer
evicts the least recently used one past that; a freshly promoted version loads without a
redeploy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from ray import serve

from data.log_masking import install_log_masking
from data.settings import PlatformSettings, get_settings, load_settings
from serving.model_directory import ModelDirectory
from training.api import ModelBundle
from training.bundle import load_bundle
from training.registry import ModelVersion

logger = logging.getLogger("ray.serve")
T = TypeVar("T")


def replica_settings(overrides: dict[str, Any]) -> PlatformSettings:
    """Settings inside a replica: the builder's overrides, else configs + environment; its logs masked from here on."""
    settings = load_settings(**overrides) if overrides else get_settings()
    install_log_masking(settings)
    return settings


class _Held(Generic[T]):
    """A model as the multiplexer holds it: Serve calls ``__del__`` when its LRU evicts it
    (its documented unload hook), which is how the replica counts evictions."""

    def __init__(self, model_id: str, model: T, on_evict: Callable[[str], None]) -> None:
        self.model_id, self.model, self._on_evict, self._evicted = model_id, model, on_evict, False

    def __del__(self) -> None:
        if not self._evicted:  # Serve's unload, or the garbage collector afterwards: counted once
            self._evicted = True
            self._on_evict(self.model_id)


class MultiplexedModels(Generic[T]):
    """Models by id, loaded on demand through ``@serve.multiplexed`` with a per-replica LRU bound.

    The bound comes from configuration, so the multiplexed loader is made here per replica
    (Ray 2.60 detects a multiplexed function wired up at init time); ``status`` tells what the
    replica holds and how often it loaded and evicted (the Member deployments expose it)."""

    def __init__(self, load: Callable[[str], T], size: int) -> None:
        self.size, self.loads, self.evictions = size, 0, 0
        self._held: set[str] = set()

        async def load_model(model_id: str) -> _Held[T]:
            model = await asyncio.to_thread(load, model_id)  # blocking reads off the event loop
            self.loads += 1
            self._held.add(model_id)
            return _Held(model_id, model, self._evicted)

        self._get = serve.multiplexed(max_num_models_per_replica=size)(load_model)

    def _evicted(self, model_id: str) -> None:
        self.evictions += 1
        self._held.discard(model_id)

    async def get(self, model_id: str) -> T:
        return (await self._get(model_id)).model

    def status(self) -> dict[str, Any]:
        return {"loaded": sorted(self._held), "loads": self.loads, "evictions": self.evictions, "max": self.size}


class VersionedModels:
    """Loads registry versions (and single city models) into this replica."""

    def __init__(self, settings: PlatformSettings) -> None:
        self.directory = ModelDirectory(settings)

    def load(self, version: str) -> ModelBundle:
        return load_bundle(self.directory.fetch(version))

    async def preload(self, loader: Callable[[str], Awaitable[Any]], size: int,
                      wanted: Callable[[ModelVersion], bool] = lambda _: True) -> list[Any]:
        """Load today's production versions (the newest ``size`` that ``wanted`` accepts) before the
        replica takes traffic, so the first requests do not pay for model loading (and are not cut
        off by the member timeout)."""
        loaded: list[Any] = []
        try:
            versions = await asyncio.to_thread(self.directory.production)
            for version in sorted(v.version for v in versions if wanted(v))[-size:]:
                loaded.append(await loader(version))
        except Exception as error:  # no registry yet: versions load on first use
            logger.warning("could not preload production models: %s", error)
        return loaded
