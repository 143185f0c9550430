"""Load and weather history held in the Preprocessor replica's memory.

Reading Parquet (or PostgreSQL) for every forecast costs far more than the model does;
a replica instead keeps each city's whole series, sorted by time, and slices it per
request. The replica loads its cities before taking traffic (``preload``); an entry older
than ``ttl_s`` is still answered from memory while one background read refreshes it, so
newly ingested data reaches the service within about ``ttl_s`` and no request waits on the
store except the very first for a city nobody preloaded.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


class InMemoryHistory:
    """The read side of a ``TimeSeriesStore`` (what ``build_forecast_input`` uses), cached per city."""

    def __init__(self, store: Any, ttl_s: float) -> None:
        self._store = store
        self._ttl = ttl_s
        self._frames: dict[tuple[str, str], tuple[float, pd.DataFrame, np.ndarray]] = {}
        self._resolutions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._refreshing: set[tuple[str, str]] = set()

    def preload(self, cities: list[str]) -> None:
        """Read these cities' load and weather now (replica start), not on their first request."""
        for city in cities:
            self._read("load", city, None)
            for kind in ("observed", "forecast"):
                self._read("weather", city, kind)

    def _series(self, what: str, city: str, kind: str | None) -> tuple[pd.DataFrame, np.ndarray]:
        key = (what, f"{city}:{kind}")
        with self._lock:
            entry = self._frames.get(key)
            stale = entry is not None and entry[0] <= time.monotonic() and key not in self._refreshing
            if stale:
                self._refreshing.add(key)
        if entry is None:
            return self._read(what, city, kind)
        if stale:
            threading.Thread(target=self._refresh, args=(what, city, kind, key), daemon=True,
                             name=f"history-refresh-{city}").start()
        return entry[1], entry[2]

    def _refresh(self, what: str, city: str, kind: str | None, key: tuple[str, str]) -> None:
        try:
            self._read(what, city, kind)
        except Exception:  # the store is down: keep answering from memory, try again next time
            log.warning("could not refresh the %s history of %s; serving the copy in memory", what, city, exc_info=True)
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def _read(self, what: str, city: str, kind: str | None) -> tuple[pd.DataFrame, np.ndarray]:
        frame = self._store.read_load(city) if what == "load" else self._store.read_weather(city, kind=kind or "observed")
        frame = frame.sort_values("ts", kind="stable").reset_index(drop=True)
        stamps = pd.to_datetime(frame["ts"], utc=True).to_numpy(dtype="datetime64[ns]")
        with self._lock:
            self._frames[(what, f"{city}:{kind}")] = (time.monotonic() + self._ttl, frame, stamps)
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
