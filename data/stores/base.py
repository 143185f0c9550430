"""What every time-series store offers, so pipeline, training and serving never care which one is configured.

Frames in and out follow ``data.schema``: ``ts`` is a timezone-aware UTC timestamp, rows
are sorted by ``ts``, one row per (city, ts) for load and per (city, ts, kind, issued_at)
for weather.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pandas as pd


@dataclass(frozen=True)
class WriteCounts:
    """What an upsert did: new rows, rows identical to what was stored, rows whose values changed."""

    inserted: int = 0
    unchanged: int = 0
    updated: int = 0

    def __add__(self, other: "WriteCounts") -> "WriteCounts":
        return WriteCounts(
            self.inserted + other.inserted, self.unchanged + other.unchanged, self.updated + other.updated
        )


@runtime_checkable
class TimeSeriesStore(Protocol):
    """Load and weather history per city. Writes are idempotent upserts."""

    def staged(self) -> AbstractContextManager["TimeSeriesStore"]:
        """All writes inside the block land together or not at all (a batch is all-or-nothing)."""
        ...

    def write_load(self, frame: pd.DataFrame) -> WriteCounts: ...

    def write_weather(self, frame: pd.DataFrame) -> WriteCounts: ...

    def read_load(
        self, city: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
    ) -> pd.DataFrame:
        """Rows with ``start <= ts < end`` (either bound may be None)."""
        ...

    def read_weather(
        self,
        city: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        kind: str = "observed",
    ) -> pd.DataFrame: ...

    def cities(self) -> list[str]:
        """Cities that have load stored."""
        ...

    def write_supply(self, frame: pd.DataFrame) -> WriteCounts:
        """Grid-India daily supply position rows (region, date), upserted like load."""
        ...

    def read_supply(self, region: str) -> pd.DataFrame: ...

    def resolution_minutes(self, city: str) -> int:
        """The city's series resolution (15, 30 or 60), as inferred at ingest."""
        ...

    def load_span(self, city: str, before: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last stored load ``ts`` (UTC) before ``before``, None when there is none:
        what planning a training run needs without reading the series."""
        ...
