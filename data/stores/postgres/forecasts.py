"""The forecast store in PostgreSQL (tables ``forecasts`` and ``forecast_points`` of migration 0005).

A forecast is one ``forecasts`` row, unique per (city, target day, as_of, model version), and
its blocks in ``forecast_points``; a second write of the same forecast keeps its row and
first issue time and upserts the blocks, so reruns never duplicate anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from data.stores.forecasts import (BLOCK_COLUMNS, KEY_COLUMNS, ForecastSummary, StoredForecast, blocks_of, conform_blocks,
                                   empty_blocks, valid_blocks)
from data.stores.postgres.pool import get_pool

_HEADER = (
    "INSERT INTO forecasts (city, target_day, as_of, model_version, issued_at, lead_hours, degraded, source)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (city, target_day, as_of, model_version) DO UPDATE SET"
    " lead_hours = LEAST(forecasts.lead_hours, EXCLUDED.lead_hours), degraded = EXCLUDED.degraded"
    " RETURNING id, (xmax = 0) AS inserted"
)
_POINT = (
    "INSERT INTO forecast_points (forecast_id, ts, p10, p50, p90) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (forecast_id, ts) DO UPDATE SET p10 = EXCLUDED.p10, p50 = EXCLUDED.p50, p90 = EXCLUDED.p90"
)


class PostgresForecastStore:
    def __init__(self, url: str) -> None:
        self.url = url

    def write(self, forecasts: Sequence[StoredForecast]) -> int:
        return self.write_blocks(blocks_of(forecasts)) if forecasts else 0

    def write_blocks(self, blocks: pd.DataFrame) -> int:
        if blocks.empty:
            return 0
        new = valid_blocks(blocks)
        fresh = 0
        with get_pool(self.url).connection() as conn, conn.transaction(), conn.cursor() as cur:
            for (city, target_day, as_of, model_version), part in new.groupby(list(KEY_COLUMNS), sort=False):
                cur.execute(_HEADER, (city, target_day, as_of.to_pydatetime(), model_version,
                                      part["issued_at"].min().to_pydatetime(), float(part["lead_hours"].min()),
                                      bool(part["degraded"].any()), part["source"].iloc[0]))
                forecast_id, inserted = cur.fetchone()
                fresh += bool(inserted)
                points = zip([ts.to_pydatetime() for ts in part["ts"]], *(part[q].tolist() for q in ("p10", "p50", "p90")))
                cur.executemany(_POINT, [(forecast_id, *point) for point in points])
        return fresh

    def read(self, city: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.DataFrame:
        where, params = ["f.city = %s"], [city.upper()]
        if start is not None:
            where.append("p.ts >= %s")
            params.append(pd.Timestamp(start).to_pydatetime())
        if end is not None:
            where.append("p.ts < %s")
            params.append(pd.Timestamp(end).to_pydatetime())
        columns = ", ".join(f"p.{c}" if c in ("ts", "p10", "p50", "p90") else f"f.{c}" for c in BLOCK_COLUMNS)
        with get_pool(self.url).connection() as conn:
            rows = conn.execute(
                f"SELECT {columns} FROM forecasts f JOIN forecast_points p ON p.forecast_id = f.id"  # nosec B608: constant columns and conditions; values are parameters
                f" WHERE {' AND '.join(where)} ORDER BY p.ts, f.as_of", params,
            ).fetchall()
        return conform_blocks(pd.DataFrame(rows, columns=list(BLOCK_COLUMNS))) if rows else empty_blocks()

    def list(self, city: str, limit: int = 100) -> list[ForecastSummary]:
        with get_pool(self.url).connection() as conn:
            rows = conn.execute(
                "SELECT f.city, f.target_day, f.as_of, f.model_version, f.issued_at, f.lead_hours, f.degraded, f.source,"
                " (SELECT count(*) FROM forecast_points p WHERE p.forecast_id = f.id) AS blocks"
                " FROM forecasts f WHERE f.city = %s ORDER BY f.target_day DESC, f.as_of DESC LIMIT %s",
                (city.upper(), limit),
            ).fetchall()
        names = ("city", "target_day", "as_of", "model_version", "issued_at", "lead_hours", "degraded", "source", "blocks")
        return [ForecastSummary(**dict(zip(names, row))) for row in rows]

    def cities(self) -> list[str]:
        with get_pool(self.url).connection() as conn:
            return [row[0] for row in conn.execute("SELECT DISTINCT city FROM forecasts ORDER BY city")]
