"""The Parquet lake with several writers at once and writers that die (issue 11, finding 3):
real processes on real files, no mocks. Rows written by concurrent imports of one city
must all be stored, and a batch killed between its renames must count all-or-nothing
once the lake is opened again."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd

from data.stores.base import WriteCounts
from data.stores.lake import LakeStore
from data.stores.lake_commit import JOURNAL_DIR, PAUSE_ENV

ROWS_PER_WRITE = 96


def _rows(writer: int, round_: int) -> pd.DataFrame:
    """One day of blocks no other writer or round writes (distinct timestamps, same partition)."""
    start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=writer * 40 + round_)
    ts = pd.date_range(start, periods=ROWS_PER_WRITE, freq="15min")
    return pd.DataFrame({"city": "DEL", "ts": ts, "load_mw": 1000.0 + writer, "imputed": False,
                         "load_shedding": False, "outlier": False})


def _writer(root: str, writer: int, rounds: int, start: "multiprocessing.synchronize.Barrier") -> int:
    store = LakeStore(Path(root))
    start.wait()
    inserted = 0
    for round_ in range(rounds):
        inserted += store.write_load(_rows(writer, round_)).inserted
    return inserted


def test_concurrent_imports_of_one_city_keep_every_row(tmp_path: Path) -> None:
    writers, rounds = 4, 6
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(writers)
        with context.Pool(writers) as pool:
            inserted = pool.starmap(_writer, [(str(tmp_path), w, rounds, barrier) for w in range(writers)])
    stored = LakeStore(tmp_path).read_load("DEL")
    assert sum(inserted) == writers * rounds * ROWS_PER_WRITE  # what the summaries reported ...
    assert len(stored) == writers * rounds * ROWS_PER_WRITE  # ... is what the lake holds
    assert stored["ts"].is_unique


_KILLED_WRITER = textwrap.dedent("""
    import os, sys
    import pandas as pd
    from pathlib import Path
    from data.stores import lake_commit
    from data.stores.lake import LakeStore

    real_replace, done = os.replace, []
    def replace_then_die(src, dst):
        real_replace(src, dst)
        if str(dst).endswith("data.parquet"):
            done.append(dst)
            if len(done) == int(sys.argv[2]):
                os._exit(9)  # killed between the renames of one batch
    lake_commit.os.replace = replace_then_die

    store = LakeStore(Path(sys.argv[1]))
    ts = pd.date_range("2023-12-31 12:00", periods=96, freq="15min", tz="UTC")  # spans two UTC years
    frame = pd.DataFrame({"city": "DEL", "ts": ts, "load_mw": 2000.0, "imputed": False, "load_shedding": False,
                          "outlier": False})
    store.write_load(frame)
""")


def _run_killed_writer(root: Path, die_after: int) -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(root), str(die_after)], env=env,
                          timeout=120).returncode


def test_a_writer_killed_between_renames_is_rolled_forward_at_the_next_open(tmp_path: Path) -> None:
    assert _run_killed_writer(tmp_path, die_after=1) == 9
    years = sorted(p.parent.name for p in (tmp_path / "load" / "city=DEL").glob("year=*/data.parquet"))
    assert years == ["year=2023"]  # the crash left half the batch in place
    store = LakeStore(tmp_path)  # opening the lake finishes the batch
    assert len(store.read_load("DEL")) == 96
    assert not list(tmp_path.rglob("*.tmp")) and not list((tmp_path / ".journal").glob("*"))
    again = store.write_load(LakeStore(tmp_path).read_load("DEL"))
    assert again == WriteCounts(unchanged=96)  # the row counts reconcile: nothing half-written


def test_a_writer_killed_before_its_first_rename_is_rolled_back(tmp_path: Path) -> None:
    partition = tmp_path / "load" / "city=DEL" / "year=2023"
    partition.mkdir(parents=True)
    (partition / ".data.parquet.dead.tmp").write_bytes(b"half a file")  # what a writer killed mid-write leaves
    store = LakeStore(tmp_path)
    assert not list(tmp_path.rglob("*.tmp")) and store.read_load("DEL").empty


_PAUSED_WRITER = textwrap.dedent("""
    import sys
    import pandas as pd
    from pathlib import Path
    from data.stores.lake import LakeStore

    ts = pd.date_range("2023-12-31 12:00", periods=96, freq="15min", tz="UTC")  # spans two UTC years
    LakeStore(Path(sys.argv[1])).write_load(pd.DataFrame({"city": "DEL", "ts": ts, "load_mw": 2000.0, "imputed": False,
                                                          "load_shedding": False, "outlier": False}))
""")


def test_a_writer_sigkilled_between_renames_is_rolled_forward_and_counts_reconcile(tmp_path: Path) -> None:
    """No patch in the writer: the documented fault-injection pause holds a real process
    after its first rename, and the test kills it with SIGKILL there."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), PAUSE_ENV: "1"}
    writer = subprocess.Popen([sys.executable, "-c", _PAUSED_WRITER, str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not list((tmp_path / JOURNAL_DIR).glob("*.paused")):
            assert writer.poll() is None and time.monotonic() < deadline, "the writer never reached the pause"
            time.sleep(0.05)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    years = sorted(p.parent.name for p in (tmp_path / "load" / "city=DEL").glob("year=*/data.parquet"))
    assert len(years) == 1  # killed with one of the batch's two partitions renamed
    store = LakeStore(tmp_path)  # opening the lake rolls the batch forward
    assert len(store.read_load("DEL")) == 96
    assert not list(tmp_path.rglob("*.tmp")) and not list((tmp_path / JOURNAL_DIR).glob("*"))
    assert store.write_load(store.read_load("DEL")) == WriteCounts(unchanged=96)
