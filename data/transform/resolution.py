"""A series' resolution: inferred from its timestamps, then mapped to a stored one.

Series keep their own resolution (15, 30 or 60 minutes; docs/contracts.md, "Data contract");
finer series such as the SLDC's 5-minute table are averaged to 15-minute blocks, the grid's
own granularity.
"""

from __future__ import annotations

import numpy as np

MINUTE_US = 60_000_000


def infer_resolution(ts_us: np.ndarray, default: int = 15) -> int:
    """The most common step (minutes) between distinct sorted timestamps (int64 µs)."""
    ordered = ts_us if len(ts_us) < 2 or bool(np.all(ts_us[1:] >= ts_us[:-1])) else np.sort(ts_us)
    steps = np.diff(ordered)
    steps = steps[steps > 0] // MINUTE_US
    steps = steps[steps <= 24 * 60]
    if len(steps) == 0:
        return default
    return int(np.argmax(np.bincount(steps)))


def target_resolution(native: int, allowed: tuple[int, ...]) -> int | None:
    """Stored resolution for a native one: kept if allowed, 15 if it divides 15, else None."""
    if native in allowed:
        return native
    if native > 0 and 15 % native == 0:
        return 15
    return None
