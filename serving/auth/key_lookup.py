"""API key records as the request path reads them: cached, bounded, and failing fast.

Every ``X-API-Key`` used to cost one pooled PostgreSQL query, made-up keys included, so a
flood of fake keys (or a slow database) held the pool that real callers and the registry
watcher share. Here a hit is kept ``hit_ttl_s`` (a revocation reaches a replica within
that), a miss ``miss_ttl_s`` (briefly: a key created a moment ago must start working), at
most ``max_concurrent`` lookups reach the store at once, and a store that fails or stays
saturated answers ``BackendUnavailableError`` (503), never a 500 or a hung request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict

from serving.auth.keys import ApiKey, KeyStore, KeyStoreUnavailableError

log = logging.getLogger("efp.serving.auth")


class KeyLookup:
    def __init__(self, store: KeyStore, *, hit_ttl_s: float, miss_ttl_s: float, max_entries: int = 10_000,
                 max_concurrent: int = 4, wait_s: float = 2.0) -> None:
        self._store = store
        self._hit_ttl, self._miss_ttl = hit_ttl_s, miss_ttl_s
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, ApiKey | None]] = OrderedDict()
        self._lock = threading.Lock()
        # A thread semaphore, taken in the worker thread: bound to no event loop, and a waiting
        # lookup holds a worker thread rather than a pooled database connection.
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._wait = wait_s

    def _cached(self, key_id: str) -> tuple[bool, ApiKey | None]:
        with self._lock:
            entry = self._entries.get(key_id)
            if entry is None or entry[0] < time.monotonic():
                return False, None
            self._entries.move_to_end(key_id)
            return True, entry[1]

    def _remember(self, key_id: str, record: ApiKey | None) -> None:
        ttl = self._hit_ttl if record is not None else self._miss_ttl
        with self._lock:
            self._entries[key_id] = (time.monotonic() + ttl, record)
            self._entries.move_to_end(key_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    async def get(self, key_id: str) -> ApiKey | None:
        """The record (None: no such key), from the cache when fresh, else from the store."""
        found, record = self._cached(key_id)
        if found:
            return record
        try:
            record = await asyncio.to_thread(self._lookup, key_id)
        except KeyStoreUnavailableError as error:
            log.warning("API key lookup failed, answering 503: %s", error.cause)
            raise
        self._remember(key_id, record)
        return record

    def _lookup(self, key_id: str) -> ApiKey | None:
        if not self._slots.acquire(timeout=self._wait):
            raise KeyStoreUnavailableError(f"{self._wait} s without a free lookup slot")
        try:
            return self._store.get(key_id)
        finally:
            self._slots.release()
