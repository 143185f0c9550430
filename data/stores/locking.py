"""One exclusive lock on a store folder, across the threads of a process (a ``threading.Lock``)
and across processes (``flock`` on ``<root>/.lock``): Ray tasks, the service's recorder
thread and a CLI command may read-modify-write the same files together."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def folder_lock(root: Path, thread_lock: threading.Lock) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with thread_lock, open(root / ".lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
