"""Metadata in PostgreSQL (tables of migrations 0002 and 0005): runs, quarantine, resolutions, cities, alerts.

The same ``MetadataStore`` as the files beside the lake, so the pipeline and the CLI never
ask which is configured. Quarantined rows go in with COPY: a bad file can reject many
thousands of rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from data.catalogue import City
from data.records import IngestSummary
from data.stores.metadata import QUARANTINE_COLUMNS, check_severity, normalise_quarantine
from data.stores.postgres.pool import get_pool, unavailable_as


class PostgresMetadataStore:
    def __init__(self, url: str) -> None:
        self.url = url

    def _pool(self):
        return get_pool(self.url)

    # ------------------------------------------------------------------- runs
    def record_run(
        self, summary: IngestSummary, started_at: datetime, finished_at: datetime, quarantine: pd.DataFrame | None = None,
    ) -> None:
        """The run and its quarantined rows in one transaction (the rows reference the run)."""
        with unavailable_as("metadata database"), self._pool().connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO ingestion_runs (run_id, source, path, cities, started_at, finished_at, input_rows,"
                " accepted, repaired, rejected, inserted, unchanged, updated, summary)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (run_id) DO UPDATE SET finished_at = EXCLUDED.finished_at, summary = EXCLUDED.summary",
                (
                    summary.run_id, summary.source, summary.path, summary.cities, started_at, finished_at,
                    summary.input_rows, summary.accepted, summary.repaired, summary.rejected,
                    summary.inserted, summary.unchanged, summary.updated, Jsonb(summary.model_dump(mode="json")),
                ),
            )
            if quarantine is not None:
                self._copy_quarantine(conn, summary.run_id, quarantine)

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._pool().connection() as conn:
            rows = conn.execute(
                "SELECT summary, started_at, finished_at FROM ingestion_runs ORDER BY started_at DESC LIMIT %s",
                (limit,),
            ).fetchall()
        return [{**row[0], "started_at": row[1].isoformat(), "finished_at": row[2].isoformat()} for row in rows]

    # ------------------------------------------------------------- quarantine
    def add_quarantine(self, run_id: str, frame: pd.DataFrame) -> int:
        if frame is None or frame.empty:
            return 0
        with self._pool().connection() as conn:
            return self._copy_quarantine(conn, run_id, frame)

    @staticmethod
    def _copy_quarantine(conn: psycopg.Connection, run_id: str, frame: pd.DataFrame) -> int:
        if frame is None or frame.empty:
            return 0
        rows = normalise_quarantine(run_id, frame)
        records = [
            tuple(None if pd.isna(value) else value for value in row)
            for row in rows.itertuples(index=False, name=None)
        ]
        with conn.cursor() as cur, cur.copy(f"COPY quarantine ({', '.join(QUARANTINE_COLUMNS)}) FROM STDIN") as copy:
            for record in records:
                copy.write_row(record)
        return len(records)

    def quarantine(self, city: str | None = None, limit: int = 1000) -> pd.DataFrame:
        where, params = ("WHERE city = %s", [city.upper()]) if city else ("", [])
        with self._pool().connection() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(QUARANTINE_COLUMNS)} FROM quarantine {where} ORDER BY id DESC LIMIT %s",  # nosec B608: constant columns and condition; values are parameters
                [*params, limit],
            ).fetchall()
        return normalise_quarantine("", pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS))).assign(
            run_id=[row[0] for row in rows]
        )

    def quarantine_counts(self) -> dict[str, int]:
        with self._pool().connection() as conn:
            rows = conn.execute("SELECT coalesce(city, '?'), count(*) FROM quarantine GROUP BY 1").fetchall()
        return {str(code): int(count) for code, count in rows}

    # ------------------------------------------------------------- resolution
    def set_resolution(self, city: str, minutes: int) -> None:
        with self._pool().connection() as conn:
            conn.execute(
                "INSERT INTO series_resolution (city, minutes) VALUES (%s, %s)"
                " ON CONFLICT (city) DO UPDATE SET minutes = EXCLUDED.minutes, updated_at = now()",
                (city.upper(), int(minutes)),
            )

    def resolution(self, city: str) -> int | None:
        with self._pool().connection() as conn:
            row = conn.execute("SELECT minutes FROM series_resolution WHERE city = %s", (city.upper(),)).fetchone()
        return int(row[0]) if row else None

    # ----------------------------------------------------------------- cities
    def upsert_city(self, city: City) -> None:
        fields = city.model_dump()
        with self._pool().connection() as conn:
            conn.execute(
                "INSERT INTO cities (code, name, country, subdivision, latitude, longitude, timezone, peak_mw)"
                " VALUES (%(code)s, %(name)s, %(country)s, %(subdivision)s, %(latitude)s, %(longitude)s,"
                " %(timezone)s, %(peak_mw)s)"
                " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, country = EXCLUDED.country,"
                " subdivision = EXCLUDED.subdivision, latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,"
                " timezone = EXCLUDED.timezone, peak_mw = EXCLUDED.peak_mw, updated_at = now()",
                fields,
            )

    def cities(self) -> list[City]:
        with self._pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT code, name, country, subdivision, latitude, longitude, timezone, peak_mw FROM cities ORDER BY code"
            )
            return [City.model_validate(row) for row in cur.fetchall()]

    # ----------------------------------------------------------------- alerts
    def add_alert(
        self, kind: str, message: str, *, city: str | None = None, severity: str = "warning",
        details: dict[str, Any] | None = None,
    ) -> int:
        check_severity(severity)
        with self._pool().connection() as conn:
            row = conn.execute(
                "INSERT INTO alerts (city, kind, severity, message, details) VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (city.upper() if city else None, kind, severity, message, Jsonb(details or {})),
            ).fetchone()
        return int(row[0])

    def alerts(self, city: str | None = None, limit: int = 100, *, open_only: bool = False) -> list[dict[str, Any]]:
        conditions, params = (["city = %s"], [city.upper()]) if city else ([], [])
        if open_only:
            conditions.append("resolved_at IS NULL")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT id, created_at, city, kind, severity, message, details, acknowledged, resolved_at FROM alerts"  # nosec B608: constant conditions; values are parameters
                f" {where} ORDER BY id DESC LIMIT %s",
                [*params, limit],
            )
            rows = cur.fetchall()
        return [{**row, "created_at": row["created_at"].isoformat(),
                 "resolved_at": row["resolved_at"].isoformat() if row["resolved_at"] else None} for row in rows]

    def resolve_alert(self, alert_id: int) -> None:
        with self._pool().connection() as conn:
            conn.execute("UPDATE alerts SET resolved_at = now() WHERE id = %s AND resolved_at IS NULL", (int(alert_id),))
