"""Versioned, idempotent schema migrations.

Files ``NNNN_name.sql`` in this folder are applied in order, each in its own transaction,
and recorded in ``schema_migrations``; an advisory lock keeps two processes (say two
Serve replicas starting together) from applying the same file twice. Applying them again
changes nothing. A file may branch on the server's abilities with ``DO`` blocks (the
time-series tables become TimescaleDB hypertables where the extension exists and
native monthly range partitions where it does not).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import psycopg

from data.stores.postgres.pool import CONNECT_TIMEOUT_S

MIGRATIONS_DIR = Path(__file__).resolve().parent
_LOCK_KEY = 7_140_2026  # arbitrary, constant advisory-lock id for migrations


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def available_migrations() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        version, _, name = path.stem.partition("_")
        found.append(Migration(int(version), name, path))
    return found


def migrate(url: str) -> list[str]:
    """Apply every pending migration; return the names applied (empty when up to date)."""
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0]: row[1] for row in conn.execute("SELECT version, checksum FROM schema_migrations")}
            for migration in available_migrations():
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.path.read_text(encoding="utf-8"))
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                applied_now.append(f"{migration.version:04d}_{migration.name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def applied_versions(url: str) -> list[int]:
    with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
        if not exists:
            return []
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
