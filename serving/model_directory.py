"""The registry as the service sees it: which version answers a city, and its loaded bundle.

Resolutions are cached per replica and dropped whenever the registry's production token
changes, so a promotion reaches every request within one poll period without a registry
read per request. Bundles are loaded by version; serving never reads file paths itself.

The registry's own errors name buckets, keys and paths, which is what an operator needs and
what a caller must never see. Here a storage failure (S3 unreachable or gone, permission
denied, a missing or corrupt artifact, the index database down) becomes
``RegistryUnavailableError``: a 503 with a generic message, the details in the log. Only a
``NotFoundError`` (the caller named a version or city that is not there) passes through.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from psycopg import Error as DatabaseError
from psycopg_pool import PoolTimeout

from data.errors import BackendUnavailableError
from data.settings import PlatformSettings
from serving.schemas import ModelOut
from training.api import ModelBundle
from training.backtest.promotion import BacktestCheck
from training.bundle import load_bundle
from training.registry import (
    CityModelId,
    CorruptArtifactError,
    ModelRegistry,
    ModelVersion,
    PromotionCheck,
    PromotionResult,
    RegistryError,
    open_registry,
)

log = logging.getLogger("efp.serving")
#: What a registry read or write raises when its storage, not the caller, is at fault.
STORAGE_FAILURES: tuple[type[BaseException], ...] = (
    RegistryError, CorruptArtifactError, BotoCoreError, ClientError, DatabaseError, PoolTimeout, OSError,
)
P = ParamSpec("P")
R = TypeVar("R")


class RegistryUnavailableError(BackendUnavailableError):
    """The model registry's storage failed (HTTP 503); the message never says which bucket, key or path.

    Its arguments are ignored, so rebuilding it from a Ray task's message, or unpickling it,
    yields the same generic text."""

    def __init__(self, *_: object) -> None:
        super().__init__("model registry")


def _storage_guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Run ``method``; a storage failure is logged in full and raised as ``RegistryUnavailableError``."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except STORAGE_FAILURES as error:
            log.error("model registry %s failed: %s: %s", method.__name__, type(error).__name__, error)
            raise RegistryUnavailableError() from error

    return guarded


class ModelDirectory:
    """Thread-safe, cached view of ``training.registry`` for one replica."""

    def __init__(self, settings: PlatformSettings) -> None:
        self._settings = settings
        self._registry: ModelRegistry = open_registry(settings)
        self._resolved: dict[tuple[str, str | None], ModelVersion] = {}
        self._lock = threading.Lock()
        self.token: str | None = None

    def cached(self, city: str, version: str | None) -> ModelVersion | None:
        """The resolution already made for this city and version since the last token change, else None."""
        return self._resolved.get((city, version))

    @_storage_guarded
    def resolve(self, city: str, version: str | None) -> ModelVersion:
        """ModelVersion answering ``city`` (NotFoundError when none, or the version does not cover it)."""
        key = (city, version)
        with self._lock:
            found = self._resolved.get(key)
        if found is None:
            found = self._registry.resolve(city, version)
            with self._lock:
                self._resolved[key] = found
        return found

    @_storage_guarded
    def read_token(self) -> str:
        return self._registry.production_token()

    def apply_token(self, token: str) -> bool:
        """Adopt ``token``; when it differs from the last one, drop cached resolutions and return True."""
        with self._lock:
            changed = self.token is not None and token != self.token
            self.token = token
            if changed:
                self._resolved.clear()
        return changed

    @_storage_guarded
    def production_versions(self) -> set[str]:
        return {v.version for v in self.production()}

    @_storage_guarded
    def version(self, version: str) -> ModelVersion:
        return self._registry.get(version)

    @_storage_guarded
    def production(self) -> list[ModelVersion]:
        """The versions in production for some city now."""
        return [v for v in self._registry.list_versions() if v.stage == "production"]

    @_storage_guarded
    def list(self) -> list[ModelOut]:
        return [
            ModelOut(version=v.version, cities=v.cities, stage=v.stage, production_for=v.production_cities,
                     created_at=v.created_at, promoted_by=v.promoted_by)
            for v in self._registry.list_versions()
        ]

    @_storage_guarded
    def promote(self, version: str, *, force: bool, by: str, check: PromotionCheck | None = None) -> PromotionResult:
        """Promote under ``check``, by default the backtest gate every promotion path uses, recorded as made ``by``."""
        return self._registry.promote(version, force=force, by=by,
                                      check=check or BacktestCheck(self._settings, self._registry))

    @_storage_guarded
    def fetch(self, version: str) -> Path:
        return self._registry.fetch(version)

    @_storage_guarded
    def fetch_city_model(self, model_id: CityModelId) -> Path:
        return self._registry.fetch_city_model(model_id)


class BundleCache:
    """Loaded bundles by version (LRU), loaded once even under concurrent first requests."""

    def __init__(self, settings: PlatformSettings, directory: ModelDirectory | None = None, size: int = 3) -> None:
        self._settings = settings
        self._directory = directory
        self._size = size
        self._bundles: OrderedDict[str, ModelBundle] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: str) -> ModelBundle:
        with self._lock:
            if version in self._bundles:
                self._bundles.move_to_end(version)
                return self._bundles[version]
            directory = self._directory or ModelDirectory(self._settings)
            self._directory = directory
            bundle = load_bundle(directory.fetch(version))
            self._bundles[version] = bundle
            while len(self._bundles) > self._size:
                self._bundles.popitem(last=False)
            return bundle

    async def aget(self, version: str) -> ModelBundle:
        return await asyncio.to_thread(self.get, version)
