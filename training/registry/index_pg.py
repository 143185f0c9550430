"""The registry index in PostgreSQL (``0003_registry.sql``): versions and per-city production history."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from data.errors import ConflictError
from data.stores.postgres.migrations import migrate
from data.stores.postgres.pool import get_pool
from training.registry.models import ProductionEvent


class PostgresIndex:
    """Rows in ``registry_versions`` / ``registry_production``; ``registry_state.token`` counts changes."""

    def __init__(self, url: str) -> None:
        migrate(url)  # idempotent; guarded by an advisory lock against concurrent starts
        self.pool = get_pool(url)

    def add(self, record: dict[str, Any]) -> None:
        with self.pool.connection() as conn:
            inserted = conn.execute(
                "INSERT INTO registry_versions (version, created_at, cities, record)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (version) DO NOTHING",
                (record["version"], record["created_at"], record["cities"], Jsonb(record)),
            ).rowcount
        if not inserted:
            raise ConflictError(f"model version {record['version']} is already registered")

    def get(self, version: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT record FROM registry_versions WHERE version = %s", (version,)).fetchone()
        return None if row is None else row[0]

    def all(self) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            return [row[0] for row in conn.execute("SELECT record FROM registry_versions ORDER BY created_at, version")]

    def events(self) -> list[ProductionEvent]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT id, city, version, promoted_at, forced, rolled_back_at, promoted_by FROM registry_production ORDER BY id"
            )
            return [ProductionEvent.model_validate(row) for row in cur.fetchall()]

    def promote(self, version: str, cities: list[str], forced: bool, by: str | None = None) -> None:
        with self.pool.connection() as conn, conn.transaction():
            for city in cities:
                conn.execute(
                    "INSERT INTO registry_production (city, version, forced, promoted_by) VALUES (%s, %s, %s, %s)",
                    (city, version, forced, by),
                )
            conn.execute("UPDATE registry_state SET token = token + 1")

    def roll_back(self, city: str) -> tuple[str, str]:
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT id, version FROM registry_production WHERE city = %s AND rolled_back_at IS NULL"
                " ORDER BY id DESC LIMIT 2 FOR UPDATE",
                (city,),
            ).fetchall()
            if len(rows) < 2:
                raise ConflictError(f"city {city}: no previous production version to roll back to")
            conn.execute("UPDATE registry_production SET rolled_back_at = now() WHERE id = %s", (rows[0][0],))
            conn.execute("UPDATE registry_state SET token = token + 1")
        return rows[0][1], rows[1][1]

    def token(self) -> str:
        with self.pool.connection() as conn:
            return f"pg:{conn.execute('SELECT token FROM registry_state').fetchone()[0]}"
