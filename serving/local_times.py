"""A forecast's block times as the response writes them: ISO 8601 in the city's local time.

``pd.Timestamp.isoformat`` per block cost about 1 ms per 96-block forecast, a tenth of the
ingress's CPU per uncached request (issue 10's profile). Here the wall clock comes from one
vectorised conversion and each distinct UTC offset is formatted once; and because most
requests ask for the same few days (tomorrow, per city), the strings of a time axis are
kept in a small LRU, keyed by its instants and zone.
"""

from __future__ import annotations

from datetime import tzinfo
from functools import lru_cache

import numpy as np
import pandas as pd


def _offset(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    seconds = abs(seconds)
    text = f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
    return text if seconds % 60 == 0 else f"{text}:{seconds % 60:02d}"


@lru_cache(maxsize=2048)
def _formatted(epoch_ns: bytes, tz: tzinfo | str) -> tuple[str, ...]:
    utc = pd.DatetimeIndex(np.frombuffer(epoch_ns, dtype="int64").view("datetime64[ns]")).tz_localize("UTC")
    local = utc.tz_convert(tz)
    if (utc.asi8 % 1_000_000_000).any():  # sub-second blocks: isoformat's own fractional digits
        return tuple(ts.isoformat() for ts in local)
    wall = local.tz_localize(None)
    text = np.datetime_as_string(wall.values.astype("datetime64[s]"), unit="s").tolist()
    offsets = ((wall.asi8 - utc.asi8) // 1_000_000_000).tolist()
    suffix = {seconds: _offset(seconds) for seconds in set(offsets)}
    return tuple(t + suffix[o] for t, o in zip(text, offsets))


def local_isoformat(timestamps: pd.DatetimeIndex | np.ndarray, tz: tzinfo | str) -> tuple[str, ...]:
    """Each instant as ``isoformat()`` of its ``tz`` wall time (``2024-01-01T00:00:00+05:30``)."""
    index = pd.DatetimeIndex(timestamps)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return _formatted(index.as_unit("ns").asi8.tobytes(), tz)
