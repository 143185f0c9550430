"""One psycopg connection pool per database URL and process.

Every PostgreSQL-backed component (stores, metadata, registry index, API keys) borrows
from the same pool, so a Serve replica or a Ray task opens a handful of connections,
not one per call.
"""

from __future__ import annotations

import atexit
import threading

from psycopg_pool import ConnectionPool

_pools: dict[str, ConnectionPool] = {}
_lock = threading.Lock()


def get_pool(url: str, *, max_size: int = 8) -> ConnectionPool:
    with _lock:
        pool = _pools.get(url)
        if pool is None or pool.closed:
            pool = ConnectionPool(url, min_size=1, max_size=max_size, open=True, timeout=30, name="efp")
            _pools[url] = pool
        return pool


def close_pools() -> None:
    with _lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


atexit.register(close_pools)
