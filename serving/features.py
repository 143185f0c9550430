"""Building one request's features: history from the store, the user's weather, the
version's preprocessor; kept in a per-replica LRU because day-ahead requests repeat.

Used by the Preprocessor deployment and by the in-process engine (the benchmark floor),
so both paths compute features identically.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pandas as pd

from data.settings import PlatformSettings


@dataclass
class FeaturePacket:
    """What the Preprocessor hands to every member: the version and the bundle's FeatureSet."""

    version: str
    city: str
    features: Any  # training FeatureSet (picklable, numpy only)


@dataclass
class ItemError:
    """A batch item the Preprocessor refused (picklable stand-in for the PlatformError)."""

    message: str
    not_found: bool = False


def weather_frame(city: str, weather: list[dict[str, Any]] | None) -> pd.DataFrame | None:
    """User weather points as weather rows (weather record of docs/contracts.md, "Data contract", kind 'forecast')."""
    if not weather:
        return None
    frame = pd.DataFrame(weather)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["city"] = city
    frame["kind"] = "forecast"
    return frame


def weather_digest(weather: list[dict[str, Any]] | None) -> str:
    return hashlib.sha256(json.dumps(weather or [], sort_keys=True, default=str).encode()).hexdigest()


class FeatureBuilder:
    def __init__(self, settings: PlatformSettings, cache_size: int, history_ttl_s: float) -> None:
        self._settings = settings
        self._history_ttl = history_ttl_s
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()
        self._store: Any = None

    def _open_store(self) -> Any:
        if self._store is None:
            from data.stores import open_store
            from serving.history import InMemoryHistory

            self._store = InMemoryHistory(open_store(self._settings), self._history_ttl)
        return self._store

    def prepare(self) -> None:
        """Open the store and import the input builder now rather than on the first request."""
        import training.inputs  # noqa: F401

        self._open_store()

    def preload_history(self, cities: list[str]) -> None:
        """Read these cities' history into memory now (replica start) rather than on a request."""
        self._open_store().preload(cities)

    @staticmethod
    def _key(version: str, city: str, start: pd.Timestamp, horizon: int, weather: list[dict[str, Any]] | None,
             as_of: pd.Timestamp | None) -> tuple:
        return (version, city, start.isoformat(), horizon, weather_digest(weather), None if as_of is None else as_of.isoformat())

    def cached(self, version: str, city: str, start: pd.Timestamp, horizon: int,
               weather: list[dict[str, Any]] | None, as_of: pd.Timestamp | None = None) -> FeaturePacket | None:
        """A feature set built before for this exact request (no thread hop needed)."""
        return self._cache.get(self._key(version, city, start, horizon, weather, as_of))

    def build(self, bundle: Any, version: str, city: str, start: pd.Timestamp, horizon: int,
              weather: list[dict[str, Any]] | None, as_of: pd.Timestamp | None = None) -> FeaturePacket:
        """``as_of``: the issue time (None: everything stored before ``start``, i.e. now for a future start)."""
        key = self._key(version, city, start, horizon, weather, as_of)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        from training.inputs import build_forecast_input

        inp = build_forecast_input(
            self._settings, city, start, horizon, bundle_or_preprocessor=bundle,
            weather_override=weather_frame(city, weather), store=self._open_store(), as_of=as_of,
        )
        packet = FeaturePacket(version, city, bundle.preprocessor.features(inp))
        if self._size:
            with self._lock:
                self._cache[key] = packet
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        return packet
