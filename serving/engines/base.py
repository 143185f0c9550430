"""What every engine takes and promises: a ``ForecastJob`` in, the core's ``EnsembleForecast`` out.

Degraded mode is the core's: a member that fails (or, in the Serve engine, is slower than
``member_timeout_s``) is left out, the ensemble renormalises over the rest, and the
result says which member is missing and why. With no member left the engine raises
``NoMemberError`` (HTTP 503).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from data.errors import PlatformError
from training.forecast import EnsembleForecast


@dataclass(frozen=True)
class ForecastJob:
    version: str
    city: str
    start: pd.Timestamp  # UTC, aligned
    horizon: int
    resolution_minutes: int
    weather: list[dict[str, Any]] | None = None
    as_of: pd.Timestamp | None = None  # the issue time given with the request (None: now)

    def timestamps(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.horizon, freq=pd.Timedelta(minutes=self.resolution_minutes))


class ForecastEngine(Protocol):
    async def run(self, job: ForecastJob) -> EnsembleForecast: ...

    async def run_many(self, jobs: list[ForecastJob]) -> list[EnsembleForecast | PlatformError]:
        """Many jobs in one pass; a job the caller got wrong yields its error, the others still answer."""
        ...

    async def warm(self, version: str) -> None:
        """Load ``version`` before requests switch to it (hot reload)."""
        ...
