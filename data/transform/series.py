"""Turning validated rows into stored series: resample to the resolution, fill short gaps.

Both work on one frame sorted by (city, ts) with int64 µs timestamps and never loop over
rows, because the ingest benchmark pushes a million rows through here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.transform.resolution import MINUTE_US


def resample_mean(frame: pd.DataFrame, minutes: dict[str, int]) -> pd.DataFrame:
    """Average rows into blocks of each city's resolution; flags become "any in the block".

    Columns in: ``city``, ``ts_us`` (int64, UTC µs), ``load_mw`` and bool flags. Blocks are
    aligned in UTC, which matches the local grid for whole- and half-hour offsets at 15 min.
    """
    city_id, names = pd.factorize(frame["city"])
    step = np.array([minutes[str(n)] for n in names], dtype=np.int64)[city_id] * MINUTE_US
    block = frame["ts_us"].to_numpy() // step * step
    if np.array_equal(block, frame["ts_us"].to_numpy()):
        return frame
    keyed = frame.assign(ts_us=block)
    flags = [c for c in ("imputed", "load_shedding", "outlier") if c in frame]
    grouped = keyed.groupby(["city", "ts_us"], sort=True, observed=True)
    out = grouped["load_mw"].mean().to_frame()
    for flag in flags:
        out[flag] = grouped[flag].any()
    return out.reset_index()


def fill_gaps(frame: pd.DataFrame, minutes: dict[str, int], max_gap_minutes: int) -> tuple[pd.DataFrame, int]:
    """Insert linearly interpolated rows (``imputed``) in gaps of at most ``max_gap_minutes``.

    Returns the frame sorted by (city, ts_us) and the number of rows created.
    """
    parts = []
    created = 0
    for city, part in frame.groupby("city", sort=True, observed=True):
        step = minutes[str(city)] * MINUTE_US
        ts = part["ts_us"].to_numpy()
        position = (ts - ts[0]) // step
        gap = np.diff(position) - 1
        max_missing = max_gap_minutes // minutes[str(city)]
        fill = (gap > 0) & (gap <= max_missing)
        if not fill.any():
            parts.append(part)
            continue
        starts, lengths = position[:-1][fill] + 1, gap[fill]
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        new_position = np.repeat(starts, lengths) + offsets
        values = np.interp(new_position, position, part["load_mw"].to_numpy())
        added = pd.DataFrame({"city": city, "ts_us": ts[0] + new_position * step, "load_mw": values,
                              "imputed": True, "load_shedding": False, "outlier": False})
        created += len(added)
        parts.append(pd.concat([part, added], ignore_index=True).sort_values("ts_us", kind="stable"))
    if not parts:
        return frame, 0
    return pd.concat(parts, ignore_index=True), created
