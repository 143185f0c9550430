"""The file key store written by several processes at once (issue 11, finding 12): two
``efp keys create`` / ``keys revoke`` commands run as separate processes, so the lock
around each read-modify-write must hold across processes, not only across threads.
Real processes on a real file, no mocks."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from serving.auth.keys import FileKeyStore

KEYS_PER_WRITER = 30


def _create_many(path: str, writer: int, start: "multiprocessing.synchronize.Barrier") -> list[str]:
    store = FileKeyStore(Path(path))
    start.wait()
    return [store.create(f"writer{writer}-{i}", "viewer")[0].id for i in range(KEYS_PER_WRITER)]


def _revoke(path: str, key_id: str, start: "multiprocessing.synchronize.Barrier") -> list[str]:
    store = FileKeyStore(Path(path))
    start.wait()
    store.revoke(key_id)
    return []


def test_keys_created_and_revoked_by_concurrent_processes_are_all_kept(tmp_path: Path) -> None:
    path = tmp_path / "api_keys.json"
    victim = FileKeyStore(path).create("leaked", "admin")[0].id
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(3)
        with context.Pool(3) as pool:
            jobs = [pool.apply_async(_create_many, (str(path), w, barrier)) for w in range(2)]
            jobs.append(pool.apply_async(_revoke, (str(path), victim, barrier)))
            created = [key_id for job in jobs for key_id in job.get(timeout=120)]
    stored = {key.id: key for key in FileKeyStore(path).list()}
    assert set(created) | {victim} == set(stored)  # no create lost another's key
    assert stored[victim].revoked_at is not None  # and no create undid the revocation
