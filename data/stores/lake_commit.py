"""How the Parquet lake replaces partitions safely when several processes write at once.

A lake write reads a partition, merges in pandas and renames a new copy into place. Two
writers of one city (a scheduled SLDC pull beside a CSV import) used to interleave those
steps and keep only the last rename, while both reported their rows inserted. Here:

- ``OwnerLocks``: an exclusive ``fcntl.flock`` per partition owner (``city=XXX`` covers
  that city's load and weather, ``region=XX`` its supply), taken before the first read and
  held until the batch is committed or discarded, so a read-merge-replace never overlaps
  another writer's.
- ``commit``: every new file is fsync'd, then a journal naming each ``temp -> final``
  rename is written atomically (itself fsync'd) before the first rename; the journal is
  removed after the last. A writer killed between renames leaves the journal, and
  ``recover`` (run when the lake is opened) rolls the batch forward. A writer killed
  before its journal exists leaves only temporaries, which ``recover`` removes once no
  live writer holds their owner: the batch is rolled back. Either way the batch counts
  all-or-nothing.

Fault injection (for tests only, off unless the variable is set): with
``EFPTEST_LAKE_PAUSE_AFTER_RENAMES=N`` in its environment, a committing writer stops after
the N-th rename of a batch, writes ``<journal>.paused`` and waits there, so that a test can
SIGKILL a real process between renames (tests/data/test_lake_concurrency.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from data.errors import ServiceUnavailableError

LOCK_DIR = ".locks"
JOURNAL_DIR = ".journal"
TEMP_GLOB = ".*.tmp"
#: How long a writer waits for another writer of the same city before giving up cleanly.
LOCK_WAIT_S = 120.0
#: A journal draft lives milliseconds; one older than this belongs to a dead writer.
STALE_DRAFT_S = 3600.0
#: The fault-injection point described above (not ``EFP_``: that prefix is for settings only).
PAUSE_ENV = "EFPTEST_LAKE_PAUSE_AFTER_RENAMES"


class LakeBusyError(ServiceUnavailableError):
    """Another writer held a partition owner for longer than ``LOCK_WAIT_S``; nothing was written."""


def owner_of(root: Path, path: Path) -> str:
    """``city=DEL`` for ``<root>/load/city=DEL/year=2024/data.parquet`` (``region=NR`` for supply)."""
    return path.relative_to(root).parts[1]


def fsync_path(path: Path) -> None:
    """Flush a file's or a directory's entry to disk (a rename is durable once its folder is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class OwnerLocks:
    """The owner locks one staged block holds; released together at the end of the block."""

    def __init__(self, root: Path, wait_s: float = LOCK_WAIT_S) -> None:
        self._dir = root / LOCK_DIR
        self._wait = wait_s
        self._held: dict[str, int] = {}

    def hold(self, owners: Iterable[str]) -> None:
        """Take each owner's lock not held yet, in sorted order, polling up to ``wait_s``.

        Polling with a deadline (rather than a blocking flock) means two batches that need
        each other's cities end with one clean ``LakeBusyError``, never a deadlock."""
        for owner in sorted(set(owners) - set(self._held)):
            deadline = time.monotonic() + self._wait
            while not self.try_hold(owner):
                if time.monotonic() > deadline:
                    raise LakeBusyError(f"lake: another writer has held '{owner}' for {self._wait:.0f} s; "
                                        "nothing was written, try again")
                time.sleep(0.01)

    def try_hold(self, owner: str) -> bool:
        """Take ``owner``'s lock if it is free now (True), else leave it (False)."""
        self._dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._dir / f"{owner}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._held[owner] = fd
        return True

    def release_all(self) -> None:
        for fd in self._held.values():
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._held.clear()


def _write_journal(root: Path, pending: list[tuple[Path, Path]]) -> Path:
    folder = root / JOURNAL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    journal = folder / f"{uuid.uuid4().hex}.json"
    draft = journal.with_suffix(".draft")
    rows = [[str(temp.relative_to(root)), str(final.relative_to(root))] for temp, final in pending]
    with open(draft, "w", encoding="utf-8") as handle:
        json.dump(rows, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(draft, journal)  # the batch is committed from here on
    fsync_path(folder)
    return journal


def _replay(root: Path, journal: Path) -> None:
    """Do the renames a journal names (those already done are skipped), then drop the journal."""
    folders = set()
    pause_after = int(os.environ.get(PAUSE_ENV, "0"))
    for done, (temp_name, final_name) in enumerate(json.loads(journal.read_text(encoding="utf-8")), start=1):
        temp, final = root / temp_name, root / final_name
        if temp.exists():
            os.replace(temp, final)
        folders.add(final.parent)
        if done == pause_after:
            _pause_until_killed(journal)
    for folder in folders:
        fsync_path(folder)
    journal.unlink()
    fsync_path(journal.parent)


def _pause_until_killed(journal: Path) -> None:
    """The fault-injection pause: announce it beside the journal, then wait for SIGKILL."""
    journal.with_suffix(".paused").touch()
    while True:
        time.sleep(1)


def commit(root: Path, pending: list[tuple[Path, Path]]) -> None:
    """Make every ``temp -> final`` replacement of one batch happen, even across a crash."""
    if not pending:
        return
    for temp, _ in pending:
        fsync_path(temp)
    _replay(root, _write_journal(root, pending))


def recover(root: Path) -> int:
    """At open: roll committed batches forward, remove what dead writers left uncommitted.

    Returns how many journals were replayed. A journal or temporary still owned by a live
    writer is left alone (its owner lock is held)."""
    replayed = 0
    folder = root / JOURNAL_DIR
    for journal in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        rows = json.loads(journal.read_text(encoding="utf-8"))
        locks = OwnerLocks(root)
        try:
            locks.hold(owner_of(root, root / final) for _, final in rows)  # waits for a live committer to finish
            if journal.exists():
                _replay(root, journal)
                replayed += 1
        finally:
            locks.release_all()
    for marker in folder.glob("*.paused") if folder.is_dir() else []:  # left by the fault-injection pause
        if not marker.with_suffix(".json").exists():
            marker.unlink(missing_ok=True)
    for draft in folder.glob("*.draft") if folder.is_dir() else []:
        if time.time() - draft.stat().st_mtime > STALE_DRAFT_S:  # a journal never finished: never committed
            draft.unlink(missing_ok=True)
    for temp in root.glob(f"*/*/**/{TEMP_GLOB}"):
        locks = OwnerLocks(root)
        try:
            if locks.try_hold(owner_of(root, temp)):
                temp.unlink(missing_ok=True)
        finally:
            locks.release_all()
    return replayed
