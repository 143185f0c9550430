"""A key store whose creations and revocations are written to the audit log (``data.stores.audit``).

``open_key_store`` hands this wrapper out, so ``efp keys create|revoke`` and any HTTP
route that manages keys log the same way; reads go straight to the store underneath.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from data.settings import PlatformSettings
from data.stores.audit import record_action

if TYPE_CHECKING:
    from serving.auth.keys import ApiKey, KeyStore


class AuditedKeyStore:
    def __init__(self, store: "KeyStore", settings: PlatformSettings) -> None:
        self._store, self._settings = store, settings

    def create(self, name: str, role: str, **options: Any) -> tuple["ApiKey", str]:
        record, key = self._store.create(name, role, **options)
        record_action(self._settings, "key.create", record.id, name=record.name, role=record.role)
        return record, key

    def revoke(self, key_id: str) -> "ApiKey":
        record = self._store.revoke(key_id)
        record_action(self._settings, "key.revoke", record.id, name=record.name)
        return record

    def list(self) -> list["ApiKey"]:
        return self._store.list()

    def get(self, key_id: str) -> "ApiKey | None":
        return self._store.get(key_id)
