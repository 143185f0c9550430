"""Load and weather history held in the Preprocessor replica's memory.

Reading Parquet (or PostgreSQL) for every forecast costs far more than the model does;
a replica instead keeps each city's whole series, sorted by time, and slices it per
request. Entries expire after ``ttl_s`` so newly ingested data reaches the service.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pandas as pd


class InMemoryHistory:
    """The read side of a ``TimeSeriesStore`` (what ``build_forecast_input`` uses), cached per city."""

    def __init__(self, store: Any, ttl_s: float) -> None:
        self._store = store
        self._ttl = ttl_s
        self._frames: dict[tuple[str, str], tuple[float, pd.DataFrame, np.ndarray]] = {}
        self._resolutions: dict[str, int] = {}
        self._lock = threading.Lock()

    def _series(self, what: str, city: str, kind: str | None) -> tuple[pd.DataFrame, np.ndarray]:
        key = (what, f"{city}:{kind}")
        with self._lock:
            entry = self._frames.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1], entry[2]
        frame = self._store.read_load(city) if what == "load" else self._store.read_weather(city, kind=kind)
        frame = frame.sort_values("ts", kind="stable").reset_index(drop=True)
        stamps = pd.to_datetime(frame["ts"], utc=True).to_numpy(dtype="datetime64[ns]")
        with self._lock:
            self._frames[key] = (time.monotonic() + self._ttl, frame, stamps)
        return frame, stamps

    @staticmethod
    def _slice(frame: pd.DataFrame, stamps: np.ndarray, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
        lo = 0 if start is None else int(np.searchsorted(stamps, _ns(start), side="left"))
        hi = len(stamps) if end is None else int(np.searchsorted(stamps, _ns(end), side="left"))
        return frame.iloc[lo:hi].reset_index(drop=True)

    def read_load(self, city: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.DataFrame:
        frame, stamps = self._series("load", city, None)
        return self._slice(frame, stamps, start, end)

    def read_weather(self, city: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                     kind: str = "observed") -> pd.DataFrame:
        frame, stamps = self._series("weather", city, kind)
        return self._slice(frame, stamps, start, end)

    def resolution_minutes(self, city: str) -> int:
        if city not in self._resolutions:
            self._resolutions[city] = self._store.resolution_minutes(city)
        return self._resolutions[city]


def _ns(stamp: pd.Timestamp) -> np.datetime64:
    stamp = pd.Timestamp(stamp)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return np.datetime64(stamp.tz_localize(None).as_unit("ns"))
