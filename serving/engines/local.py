"""The whole ensemble in this process, no Serve hops: the benchmark's floor and the HTTP
tests' backend. Runs the forecast core directly on the bundle's members."""

from __future__ import annotations

import asyncio

from data.errors import PlatformError
from data.settings import PlatformSettings
from serving.config import DeploymentsConfig
from serving.engines.base import ForecastJob
from serving.features import FeatureBuilder
from serving.model_directory import BundleCache
from training.forecast import EnsembleForecast, forecast_in_process


class LocalEngine:
    def __init__(self, settings: PlatformSettings, bundles: BundleCache, deployments: DeploymentsConfig) -> None:
        self._bundles = bundles
        self._features = FeatureBuilder(settings, deployments.feature_cache_size, deployments.history_cache_s)

    def run_sync(self, job: ForecastJob) -> EnsembleForecast:
        bundle = self._bundles.get(job.version)
        packet = self._features.build(bundle, job.version, job.city, job.start, job.horizon, job.weather, job.as_of)
        return forecast_in_process(job.version, bundle.members, bundle.ensemble.combine, packet.features,
                                   needed=bundle.ensemble.members_needed(job.city))

    async def run(self, job: ForecastJob) -> EnsembleForecast:
        return await asyncio.to_thread(self.run_sync, job)

    async def run_many(self, jobs: list[ForecastJob]) -> list[EnsembleForecast | PlatformError]:
        def all_jobs() -> list[EnsembleForecast | PlatformError]:
            out: list[EnsembleForecast | PlatformError] = []
            for job in jobs:
                try:
                    out.append(self.run_sync(job))
                except PlatformError as error:
                    out.append(error)
            return out

        return await asyncio.to_thread(all_jobs)

    async def warm(self, version: str) -> None:
        await self._bundles.aget(version)
