"""One psycopg connection pool per database URL and process.

Every PostgreSQL-backed component (stores, metadata, registry index, API keys) borrows
from the same pool, so a Serve replica or a Ray task opens a handful of connections,
not one per call.
"""

from __future__ import annotations

import atexit
import threading

from psycopg_pool import ConnectionPool

#: Seconds to open a TCP connection and log in: an unreachable server costs this, not the OS's minutes.
CONNECT_TIMEOUT_S = 5
#: Longest one statement may run; the server cancels it after that (large COPY batches fit well inside).
STATEMENT_TIMEOUT_MS = 120_000
#: Longest a caller waits for a free pooled connection before PoolTimeout.
POOL_WAIT_S = 10.0

_pools: dict[str, ConnectionPool] = {}
_lock = threading.Lock()


def session_options() -> dict[str, object]:
    """Connection keyword arguments every pooled session gets, so no call can hang on the database."""
    return {"connect_timeout": CONNECT_TIMEOUT_S, "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"}


def get_pool(url: str, *, max_size: int = 8) -> ConnectionPool:
    with _lock:
        pool = _pools.get(url)
        if pool is None or pool.closed:
            pool = ConnectionPool(url, min_size=1, max_size=max_size, open=True, timeout=POOL_WAIT_S, name="efp",
                                  kwargs=session_options())
            _pools[url] = pool
        return pool


def close_pools() -> None:
    with _lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


atexit.register(close_pools)
