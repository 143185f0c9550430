"""One psycopg connection pool per database URL and process.

Every PostgreSQL-backed component (stores, metadata, registry index, API keys) borrows
from the same pool, so a Serve replica or a Ray task opens a handful of connections,
not one per call.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import OperationalError
from psycopg_pool import ConnectionPool, PoolTimeout

from data.errors import BackendUnavailableError

log = logging.getLogger(__name__)

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


@contextmanager
def unavailable_as(what: str) -> Iterator[None]:
    """A lost or unreachable server (``OperationalError``, no pooled connection in time)
    becomes ``BackendUnavailableError(what)``: one generic line for the CLI, a 503 for the
    API. The server's own text is logged here, never put in the message (it names hosts)."""
    try:
        yield
    except (OperationalError, PoolTimeout) as error:
        log.warning("%s unavailable: %s", what, str(error).splitlines()[0] if str(error) else type(error).__name__)
        raise BackendUnavailableError(what) from error


def close_pools() -> None:
    with _lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


atexit.register(close_pools)
