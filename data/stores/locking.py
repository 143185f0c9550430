"""Exclusive locks across processes (``flock``) for stores on a local or shared folder.

``file_lock`` holds ``flock`` on one lock file: Ray tasks, Serve replicas and a CLI command
on one host may read-modify-write the same files together, and the kernel drops the lock
of a process that dies, so a killed holder never blocks the next one. ``folder_lock`` adds
a ``threading.Lock`` for the threads of one process (the service's recorder thread beside
its request threads) and locks ``<root>/.lock``.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created with its folder when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@contextmanager
def folder_lock(root: Path, thread_lock: threading.Lock) -> Iterator[None]:
    with thread_lock, file_lock(root / ".lock"):
        yield
