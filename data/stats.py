"""Per-city data quality: what is stored, over what span, how much of it is flagged or missing.

``efp data stats`` and ``make demo`` print this table; it is computed from the stores
themselves (not from ingest summaries), so it tells what training will actually read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from data.settings import PlatformSettings
from data.stores import MetadataStore, TimeSeriesStore, open_metadata, open_store

COLUMNS = (
    "city", "rows", "first", "last", "days", "resolution_min",
    "imputed_pct", "shedding_pct", "outlier_pct", "gaps", "missing_blocks", "quarantined",
)


def city_quality(load: pd.DataFrame, city: str, resolution: int, quarantined: int) -> dict[str, Any]:
    """One row of the table from a city's stored load (sorted by ts)."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(city=city, rows=len(load), resolution_min=resolution, quarantined=quarantined)
    if load.empty:
        row.update(gaps=0, missing_blocks=0)
        return row
    ts = load["ts"]
    first, last = ts.iloc[0], ts.iloc[-1]
    step = np.int64(resolution * 60_000_000)
    steps = np.diff(ts.to_numpy(dtype="datetime64[us]").view("int64"))
    holes = steps[steps > step]
    row.update(
        first=first.isoformat(),
        last=last.isoformat(),
        days=round((last - first).total_seconds() / 86400 + resolution / 1440, 2),
        imputed_pct=round(100 * float(load["imputed"].mean()), 3),
        shedding_pct=round(100 * float(load["load_shedding"].mean()), 3),
        outlier_pct=round(100 * float(load["outlier"].mean()), 3),
        gaps=int(holes.size),
        missing_blocks=int((holes // step - 1).sum()),
    )
    return row


def quality_table(
    settings: PlatformSettings,
    city: str | None = None,
    *,
    store: TimeSeriesStore | None = None,
    metadata: MetadataStore | None = None,
) -> list[dict[str, Any]]:
    """One row per stored city (or just ``city``), in the order of ``COLUMNS``."""
    store = store or open_store(settings)
    metadata = metadata or open_metadata(settings)
    codes = [city.upper()] if city else store.cities()
    quarantined = metadata.quarantine_counts()
    rows = []
    for code in codes:
        load = store.read_load(code)
        resolution = metadata.resolution(code) or (store.resolution_minutes(code) if not load.empty else None)
        rows.append(city_quality(load, code, resolution or 15, quarantined.get(code, 0)))
    return rows
