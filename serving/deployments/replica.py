"""What every model deployment's replica does the same way: read its settings, load model
versions from the registry, and preload today's production before taking traffic.

Each replica loads versions on demand through ``@serve.multiplexed`` (the version id is
the model id), so per-city versions and a freshly promoted version load without a redeploy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from data.log_masking import install_log_masking
from data.settings import PlatformSettings, get_settings, load_settings
from serving.model_directory import ModelDirectory
from training.api import ModelBundle
from training.bundle import load_bundle

#: Versions kept loaded per replica; older ones are evicted (LRU) by Serve's multiplexer.
MODELS_PER_REPLICA = 3
logger = logging.getLogger("ray.serve")


def replica_settings(overrides: dict[str, Any]) -> PlatformSettings:
    """Settings inside a replica: the builder's overrides, else configs + environment; its logs masked from here on."""
    settings = load_settings(**overrides) if overrides else get_settings()
    install_log_masking(settings)
    return settings


class VersionedModels:
    """Loads a registry version into this replica (blocking work off the event loop)."""

    def __init__(self, settings: PlatformSettings) -> None:
        self._directory = ModelDirectory(settings)

    def load(self, version: str) -> ModelBundle:
        return load_bundle(self._directory.fetch(version))

    async def preload(self, loader: Callable[[str], Awaitable[ModelBundle]]) -> list[ModelBundle]:
        """Load today's production versions before the replica takes traffic, so the first
        requests do not pay for model loading (and are not cut off by the member timeout)."""
        loaded: list[ModelBundle] = []
        try:
            versions = await asyncio.to_thread(self._directory.production_versions)
            for version in sorted(versions)[-MODELS_PER_REPLICA:]:
                loaded.append(await loader(version))
        except Exception as error:  # no registry yet: versions load on first use
            logger.warning("could not preload production models: %s", error)
        return loaded
