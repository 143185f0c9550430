"""The audit log in PostgreSQL (table ``audit_log`` of migration 0006); see ``data.stores.audit``."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from data.stores.audit_log import AuditEntry
from data.stores.postgres.pool import get_pool


class PostgresAuditLog:
    def __init__(self, url: str) -> None:
        self.url = url

    def append(self, entry: AuditEntry) -> None:
        with get_pool(self.url).connection() as conn:
            conn.execute(
                "INSERT INTO audit_log (time, actor, action, target, detail) VALUES (%s, %s, %s, %s, %s)",
                (entry.time, entry.actor, entry.action, entry.target, Jsonb(entry.model_dump(mode="json")["detail"])),
            )

    def entries(self, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
        where, params = ("WHERE action = %s", [action]) if action else ("", [])
        with get_pool(self.url).connection() as conn:
            rows = conn.execute(
                f"SELECT time, actor, action, target, detail FROM audit_log {where} ORDER BY id DESC LIMIT %s",  # nosec B608: the WHERE clause is a constant; values are parameters
                [*params, limit],
            ).fetchall()
        return [AuditEntry(time=r[0], actor=r[1], action=r[2], target=r[3], detail=r[4]) for r in rows]
