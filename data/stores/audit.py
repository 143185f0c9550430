"""The audit log of admin actions: API keys created and revoked, model versions promoted
and rolled back, each with who did it, what, on which target and when.

One home for the concept: the action sites (``serving.auth.keys.open_key_store``'s store,
``training.registry.ModelRegistry.promote``/``rollback``) call ``record_action``, and they
are the code paths the CLI and the HTTP API share, so neither can skip the log. Who acts
is a context variable rather than an argument: the CLI sets ``cli:<os user>`` once, an
HTTP route sets the caller's principal id around its call (``acting_as``), and anything
else (a scheduled job) is ``system``. Entries go to the ``audit_log`` table (migration
0006) when PostgreSQL is configured, else to ``audit.jsonl`` in the metadata folder.
Entries are only appended; nothing here updates or deletes one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

from data.settings import PlatformSettings
from data.stores.audit_log import AUDIT_FILE, AuditAction, AuditEntry, AuditLog, FileAuditLog

__all__ = ["AUDIT_FILE", "AuditAction", "AuditEntry", "AuditLog", "FileAuditLog", "acting_as", "current_actor",
           "open_audit", "record_action", "set_actor"]

_actor: ContextVar[str] = ContextVar("efp_audit_actor", default="system")


def current_actor() -> str:
    return _actor.get()


def set_actor(actor: str) -> None:
    """Who acts for the rest of this process or context (the CLI: once, at start)."""
    _actor.set(actor)


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Actions inside the block (and threads started from it with ``asyncio.to_thread``) are ``actor``'s."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def open_audit(settings: PlatformSettings) -> AuditLog:
    """The configured audit log (PostgreSQL table, or a file in the metadata folder)."""
    if settings.database_url:
        from data.stores import prepare_database
        from data.stores.postgres.audit import PostgresAuditLog

        prepare_database(settings.database_dsn)
        return PostgresAuditLog(settings.database_dsn)
    return FileAuditLog(settings.metadata_dir)


def record_action(settings: PlatformSettings, action: AuditAction, target: str, **detail: Any) -> AuditEntry:
    """Append ``action`` on ``target`` by the current actor, now; call it once the action has succeeded."""
    entry = AuditEntry(time=datetime.now(timezone.utc), actor=current_actor(), action=action, target=target, detail=detail)
    open_audit(settings).append(entry)
    return entry
