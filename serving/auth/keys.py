"""API keys: created once (the secret is shown once), stored as a hash, revocable.

A key reads ``efp_<id>_<secret>``: the id is public (it appears in access logs and
``efp keys list``), the secret is 32 random bytes and only its SHA-256 is stored; a
random secret that long needs no slow password hash. A key may expire (``expires_at``,
from ``efp keys create --expires-in 30d``); an expired key is refused like a revoked one.
With ``settings.database_url`` the keys live in PostgreSQL (migrations 0004_api_keys.sql,
0006 for the expiry), else in ``<metadata>/api_keys.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

from data.durations import parse_duration_minutes
from data.errors import BackendUnavailableError, NotFoundError, PlatformError
from data.settings import PlatformSettings
from data.stores.locking import folder_lock
from serving.auth.principal import ROLE_RANK, Role

KEY_PREFIX = "efp_"


class KeyRequestError(PlatformError):
    """A key request is malformed (bad role or name)."""

    exit_code = 2


class KeyStoreUnavailableError(BackendUnavailableError):
    """The key store could not be read (database down, pool exhausted, file unreadable): 503.

    ``cause`` is the backend's own text, for the log only; the message stays generic.
    """

    def __init__(self, cause: str) -> None:
        super().__init__("API key store")
        self.cause = cause


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: Role
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None
    rate_limit_per_minute: int | None = None
    expires_at: datetime | None = None

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(timezone.utc))

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "expires_at": self.expires_at,
        }


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    """``efp_<id>_<secret>`` -> (id, secret); None when the text is not shaped like a key."""
    if not key.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = key[len(KEY_PREFIX):].partition("_")
    if not sep or not key_id or not secret:
        return None
    return key_id, secret


class KeyStore(Protocol):
    def create(self, name: str, role: str, *, rate_limit_per_minute: int | None = None,
               expires_in: timedelta | None = None) -> tuple[ApiKey, str]: ...
    def list(self) -> list[ApiKey]: ...
    def revoke(self, key_id: str) -> ApiKey: ...
    def get(self, key_id: str) -> ApiKey | None: ...


def key_lifetime(text: str) -> timedelta:
    """``--expires-in`` ('30d', '12h', '90m') as a lifetime; KeyRequestError naming the option otherwise."""
    minutes = parse_duration_minutes(text)
    if not minutes:
        raise KeyRequestError(f"--expires-in: expected a duration like 30d, 12h or 90m, got {text!r}")
    return timedelta(minutes=minutes)


def _new_key(name: str, role: str, rate_limit_per_minute: int | None,
             expires_in: timedelta | None = None) -> tuple[ApiKey, str]:
    if role not in ROLE_RANK:
        raise KeyRequestError(f"role: '{role}' is not one of {', '.join(ROLE_RANK)}")
    if not name.strip():
        raise KeyRequestError("name: must not be empty")
    if rate_limit_per_minute is not None and rate_limit_per_minute <= 0:
        raise KeyRequestError("rate_limit_per_minute: must be positive")
    if expires_in is not None and expires_in <= timedelta(0):
        raise KeyRequestError("expires_in: must be positive")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32).replace("_", "-")
    now = datetime.now(timezone.utc)
    record = ApiKey(key_id, name.strip(), role, hash_secret(secret), now, None, rate_limit_per_minute,  # type: ignore[arg-type]
                    None if expires_in is None else now + expires_in)
    return record, f"{KEY_PREFIX}{key_id}_{secret}"


def verify(record: ApiKey | None, secret: str) -> bool:
    """True when the key exists, is not revoked, and the secret matches (constant time)."""
    return record is not None and record.revoked_at is None and hmac.compare_digest(record.key_hash, hash_secret(secret))


def _stamp(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class FileKeyStore:
    """Keys in a JSON file beside the lake (embedded default); writes are atomic renames.

    ``create`` and ``revoke`` read, change and replace the whole file, and two ``efp keys``
    commands are two processes: each read-modify-write holds the metadata folder's lock
    (``folder_lock``: a thread lock and ``flock``), and reads the file afresh inside it,
    so a create never writes back a copy from before a concurrent revoke."""

    _thread_lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self._path = path
        self._cache: tuple[tuple[int, int, int], dict[str, ApiKey]] | None = None

    def _locked(self) -> AbstractContextManager[None]:
        return folder_lock(self._path.parent, self._thread_lock)

    def _read(self, *, fresh: bool = False) -> dict[str, ApiKey]:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return {}
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if not fresh and self._cache is not None and self._cache[0] == version:
            return self._cache[1]
        rows = json.loads(self._path.read_text(encoding="utf-8"))
        keys = {
            row["id"]: ApiKey(
                row["id"], row["name"], row["role"], row["key_hash"], datetime.fromisoformat(row["created_at"]),
                _stamp(row.get("revoked_at")), row.get("rate_limit_per_minute"), _stamp(row.get("expires_at")),
            )
            for row in rows
        }
        self._cache = (version, keys)
        return keys

    def _write(self, keys: dict[str, ApiKey]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        rows = [
            {**k.public(), "key_hash": k.key_hash, "created_at": k.created_at.isoformat(),
             "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
             "expires_at": k.expires_at.isoformat() if k.expires_at else None}
            for k in keys.values()
        ]
        tmp = self._path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(rows, indent=2), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self._path)
        self._cache = None

    def create(self, name: str, role: str, *, rate_limit_per_minute: int | None = None,
               expires_in: timedelta | None = None) -> tuple[ApiKey, str]:
        record, key = _new_key(name, role, rate_limit_per_minute, expires_in)
        with self._locked():
            keys = dict(self._read(fresh=True))
            keys[record.id] = record
            self._write(keys)
        return record, key

    def list(self) -> list[ApiKey]:
        return sorted(self._read().values(), key=lambda k: k.created_at)

    def get(self, key_id: str) -> ApiKey | None:
        try:
            return self._read().get(key_id)
        except (OSError, ValueError) as error:
            raise KeyStoreUnavailableError(f"{self._path}: {error}") from error

    def revoke(self, key_id: str) -> ApiKey:
        with self._locked():
            keys = dict(self._read(fresh=True))
            if key_id not in keys:
                raise NotFoundError(f"unknown API key id '{key_id}'")
            old = keys[key_id]
            keys[key_id] = dataclasses.replace(old, revoked_at=old.revoked_at or datetime.now(timezone.utc))
            self._write(keys)
        return keys[key_id]


class PostgresKeyStore:
    """Keys in the ``api_keys`` table; the migration is applied on first use (idempotent)."""

    _COLUMNS = "id, name, role, key_hash, created_at, revoked_at, rate_limit_per_minute, expires_at"

    def __init__(self, url: str) -> None:
        from data.stores.postgres.migrations import migrate
        from data.stores.postgres.pool import get_pool

        migrate(url)
        self._pool = get_pool(url)

    def create(self, name: str, role: str, *, rate_limit_per_minute: int | None = None,
               expires_in: timedelta | None = None) -> tuple[ApiKey, str]:
        record, key = _new_key(name, role, rate_limit_per_minute, expires_in)
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, name, role, key_hash, created_at, rate_limit_per_minute, expires_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (record.id, record.name, record.role, record.key_hash, record.created_at, rate_limit_per_minute,
                 record.expires_at),
            )
        return record, key

    def list(self) -> list[ApiKey]:
        with self._pool.connection() as conn:
            rows = conn.execute(f"SELECT {self._COLUMNS} FROM api_keys ORDER BY created_at").fetchall()  # nosec B608: _COLUMNS is a class constant
        return [ApiKey(*row) for row in rows]

    def get(self, key_id: str) -> ApiKey | None:
        from psycopg import OperationalError
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn:
                row = conn.execute(f"SELECT {self._COLUMNS} FROM api_keys WHERE id = %s", (key_id,)).fetchone()  # nosec B608: constant columns, id is a parameter
        except (OperationalError, PoolTimeout) as error:
            raise KeyStoreUnavailableError(str(error)) from error
        return ApiKey(*row) if row else None

    def revoke(self, key_id: str) -> ApiKey:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = %s RETURNING {self._COLUMNS}",  # nosec B608: constant columns
                (key_id,),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"unknown API key id '{key_id}'")
        return ApiKey(*row)


def open_key_store(settings: PlatformSettings) -> KeyStore:
    """PostgreSQL when configured, else the metadata folder; creations and revocations are audited."""
    from serving.auth.audited_keys import AuditedKeyStore

    store: KeyStore = PostgresKeyStore(settings.database_dsn) if settings.database_dsn else FileKeyStore(settings.metadata_dir / "api_keys.json")
    return AuditedKeyStore(store, settings)
