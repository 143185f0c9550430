"""How a forecast is computed once the request is validated: the engine protocol, and the
in-process engine (same steps as the Serve graph, one process; the benchmark's floor and
the API tests' backend for property-based testing).

Degraded mode lives here: a member that fails or is slower than ``member_timeout_s`` is
left out, the ensemble renormalises over the rest, and the response says which member is
missing and why. With no member left the engine raises ``NoMemberError`` (HTTP 503).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from data.errors import PlatformError, ServiceUnavailableError
from data.settings import PlatformSettings
from serving.features import FeatureBuilder
from serving.models import BundleCache
from serving.schemas import MemberReport


class NoMemberError(ServiceUnavailableError):
    """No ensemble member could answer (HTTP 503)."""


@dataclass
class ForecastJob:
    version: str
    city: str
    start: pd.Timestamp  # UTC, aligned
    horizon: int
    resolution_minutes: int
    weather: list[dict[str, Any]] | None = None

    def timestamps(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.horizon, freq=pd.Timedelta(minutes=self.resolution_minutes))


@dataclass
class EngineResult:
    timestamps: pd.DatetimeIndex
    quantiles: np.ndarray  # (horizon, 3), monotone
    members: list[MemberReport] = field(default_factory=list)
    degraded: bool = False


class ForecastEngine(Protocol):
    async def run(self, job: ForecastJob) -> EngineResult: ...

    async def run_many(self, jobs: list[ForecastJob]) -> list[EngineResult | PlatformError]:
        """Many jobs in one pass; a job the caller got wrong yields its error, the others still answer."""
        ...

    async def warm(self, version: str) -> None:
        """Load ``version`` before requests switch to it (hot reload)."""
        ...


def describe_failure(error: BaseException) -> str:
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    cause = error
    while getattr(cause, "cause", None) is not None:
        cause = cause.cause  # type: ignore[attr-defined]
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"[:200]


def member_reports(names: list[str], failures: dict[str, str], weights: dict[str, float]) -> list[MemberReport]:
    return [
        MemberReport(name=name, used=name not in failures, weight=float(weights.get(name, 0.0)), reason=failures.get(name))
        for name in names
    ]


def monotone(quantiles: np.ndarray) -> np.ndarray:
    """Sort each row so P10 <= P50 <= P90 holds in every response, whatever the members did."""
    return np.sort(np.asarray(quantiles, dtype=float), axis=1)


class LocalEngine:
    """The whole ensemble in this process (no Serve hops)."""

    def __init__(self, settings: PlatformSettings, bundles: BundleCache, *, feature_cache_size: int = 512) -> None:
        self._settings = settings
        self._bundles = bundles
        self._features = FeatureBuilder(settings, feature_cache_size)

    def run_sync(self, job: ForecastJob) -> EngineResult:
        bundle = self._bundles.get(job.version)
        packet = self._features.build(bundle, job.version, job.city, job.start, job.horizon, job.weather)
        names = list(bundle.members)
        predictions: dict[str, np.ndarray] = {}
        failures: dict[str, str] = {}
        for name, member in bundle.members.items():
            try:
                predictions[name] = member.predict([packet.features])[0]
            except Exception as error:  # a failing member degrades the answer, never fails it
                failures[name] = describe_failure(error)
        if not predictions:
            raise NoMemberError("no ensemble member could answer: " + "; ".join(f"{k}: {v}" for k, v in failures.items()))
        quantiles, weights = bundle.ensemble.combine(job.city, predictions)
        return EngineResult(packet.features.timestamps, monotone(quantiles), member_reports(names, failures, weights), bool(failures))

    async def run(self, job: ForecastJob) -> EngineResult:
        return await asyncio.to_thread(self.run_sync, job)

    async def run_many(self, jobs: list[ForecastJob]) -> list[EngineResult | PlatformError]:
        def all_jobs() -> list[EngineResult | PlatformError]:
            out: list[EngineResult | PlatformError] = []
            for job in jobs:
                try:
                    out.append(self.run_sync(job))
                except PlatformError as error:
                    out.append(error)
            return out

        return await asyncio.to_thread(all_jobs)

    async def warm(self, version: str) -> None:
        await self._bundles.aget(version)
