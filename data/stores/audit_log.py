"""Entries of the audit log and the file-backed log (``audit.jsonl`` in the metadata folder).

``data.stores.audit`` is the way in (who acts, ``record_action``, ``open_audit``); this
module holds what both backends share, so the PostgreSQL one can import it without a cycle.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from data.stores.locking import folder_lock

AuditAction = Literal["key.create", "key.revoke", "model.promote", "model.rollback"]
AUDIT_FILE = "audit.jsonl"


class AuditEntry(BaseModel):
    """One admin action, as ``efp audit list --json`` prints it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: datetime = Field(description="When the action was done (UTC).")
    actor: str = Field(description="Who: `cli:<os user>`, `key:<id>`, `jwt:<sub>`, `anonymous` (auth off) or `system`.")
    action: AuditAction
    target: str = Field(description="The key id, model version or city acted on.")
    detail: dict[str, Any] = Field(default_factory=dict, description="What else the action said (role, cities, versions).")


class AuditLog(Protocol):
    def append(self, entry: AuditEntry) -> None: ...

    def entries(self, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
        """Newest first."""
        ...


class FileAuditLog:
    """``audit.jsonl``: one JSON line per entry, appended under the folder's lock and fsynced.

    A line cut short by a crash mid-append is skipped when reading, so it never hides the
    entries before it."""

    _lock = threading.Lock()

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def append(self, entry: AuditEntry) -> None:
        line = entry.model_dump_json() + "\n"
        with folder_lock(self.root, self._lock), open(self.root / AUDIT_FILE, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def entries(self, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
        path = self.root / AUDIT_FILE
        if not path.exists():
            return []
        found: list[AuditEntry] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = AuditEntry.model_validate(json.loads(line))
            except ValueError:  # a partial last line left by a crash (json and pydantic errors are ValueErrors)
                continue
            if action is None or entry.action == action:
                found.append(entry)
        return found[::-1][:limit]
