"""The Parquet lake: the embedded default store, and what Ray Data reads for training.

Layout: ``load/city=XXX/year=YYYY/data.parquet``, ``weather/city=XXX/year=YYYY/data.parquet``
and ``supply/region=XX/data.parquet`` (UTC years). A write is an upsert done per
partition: the stored partition is read, merged by key in pandas (vectorised) and
written to a temporary file that then replaces the partition with one atomic rename,
so a crash leaves either the old or the new partition, never half of one. Inside
``staged()`` every rename waits until the whole batch is written, which is how the
pipeline stores a batch all-or-nothing; the city's lock is held from the first read to
the last rename, and a journal makes the renames of a batch survive a crash
(``lake_commit``: concurrent writers lose no rows, a killed writer is rolled forward or
back when the lake is next opened).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data.errors import NotFoundError
from data.schema import LOAD_SCHEMA, WEATHER_SCHEMA
from data.stores import frames
from data.stores.base import WriteCounts
from data.stores.lake_commit import OwnerLocks, commit, owner_of, recover

PARTITION_FILE = "data.parquet"


class LakeStore:
    """Time series in Parquet files partitioned by city and year."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._pending: list[tuple[Path, Path]] | None = None
        self._locks: OwnerLocks | None = None
        if self.root.is_dir():
            recover(self.root)

    # ----------------------------------------------------------------- layout
    def partition_path(self, table: str, city: str, year: int) -> Path:
        return self.root / table / f"city={city}" / f"year={year}" / PARTITION_FILE

    def partition_files(
        self, table: str, city: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
    ) -> list[Path]:
        """The city's partition files that can hold rows in ``[start, end)``: only those are read."""
        city_dir = self.root / table / f"city={city}"
        if not city_dir.is_dir():
            return []
        first = frames.utc_timestamp(start).year if start is not None else None
        last = (frames.utc_timestamp(end) - pd.Timedelta(microseconds=1)).year if end is not None else None
        files = []
        for year_dir in sorted(city_dir.glob("year=*")):
            year = int(year_dir.name.split("=", 1)[1])
            if (first is None or year >= first) and (last is None or year <= last):
                path = year_dir / PARTITION_FILE
                if path.exists():
                    files.append(path)
        return files

    # ----------------------------------------------------------------- writes
    @contextmanager
    def staged(self) -> Iterator["LakeStore"]:
        """Hold every partition replacement (and the owners' locks) until the block ends; on
        error, discard them all."""
        if self._pending is not None:
            yield self
            return
        self._pending, self._locks = [], OwnerLocks(self.root)
        try:
            yield self
        except BaseException:
            for temp, _ in self._pending:
                temp.unlink(missing_ok=True)
            raise
        else:
            commit(self.root, self._pending)
        finally:
            self._locks.release_all()
            self._pending, self._locks = None, None

    def _claim(self, path: Path) -> None:
        """Lock the partition's owner before reading it, for the rest of the staged block."""
        assert self._locks is not None
        self._locks.hold([owner_of(self.root, path)])

    def write_load(self, frame: pd.DataFrame) -> WriteCounts:
        if frame.empty:
            return WriteCounts()
        return self._write("load", frames.conform_load(frame), frames.LOAD_KEYS, frames.LOAD_VALUES, LOAD_SCHEMA)

    def write_weather(self, frame: pd.DataFrame) -> WriteCounts:
        if frame.empty:
            return WriteCounts()
        conformed = frames.conform_weather(frame)
        return self._write("weather", conformed, frames.WEATHER_KEYS, frames.WEATHER_VALUE_COLUMNS, WEATHER_SCHEMA)

    def write_supply(self, frame: pd.DataFrame) -> WriteCounts:
        """Grid-India daily supply position, one partition per region."""
        if frame is None or frame.empty:
            return WriteCounts()
        conformed = frames.conform_supply(frame)
        total = WriteCounts()
        with self.staged():
            for region, group in conformed.groupby("region", sort=True):
                path = self.root / "supply" / f"region={region}" / PARTITION_FILE
                self._claim(path)
                existing = pq.read_table(path).to_pandas() if path.exists() else None
                if existing is not None:
                    existing["date"] = pd.to_datetime(existing["date"]).dt.date
                merged, counts = frames.upsert(existing, group, frames.SUPPLY_KEYS, frames.SUPPLY_VALUES)
                if counts.inserted or counts.updated:
                    self._stage(path, frames.supply_table(merged))
                total = total + counts
        return total

    def _write(
        self, table: str, frame: pd.DataFrame, keys: tuple[str, ...], values: tuple[str, ...], schema: pa.Schema
    ) -> WriteCounts:
        total = WriteCounts()
        with self.staged():
            for city, year, group in _partitions(frame):
                path = self.partition_path(table, city, year)
                self._claim(path)
                existing = pq.read_table(path).to_pandas() if path.exists() else None
                merged, counts = frames.upsert(existing, group.reset_index(drop=True), keys, values)
                if counts.inserted or counts.updated:
                    self._stage(path, pa.Table.from_pandas(merged[list(schema.names)], schema=schema, preserve_index=False))
                total = total + counts
        return total

    def _stage(self, final: Path, table: pa.Table) -> None:
        assert self._pending is not None
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        self._pending.append((temp, final))  # listed first, so a failed write is cleaned up too
        pq.write_table(table, temp, compression="zstd")

    # ------------------------------------------------------------------ reads
    def read_load(
        self, city: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
    ) -> pd.DataFrame:
        return self._read("load", city, start, end, LOAD_SCHEMA)

    def read_weather(
        self,
        city: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        kind: str = "observed",
    ) -> pd.DataFrame:
        frame = self._read("weather", city, start, end, WEATHER_SCHEMA, extra=[("kind", "=", kind)])
        return frame

    def read_supply(self, region: str) -> pd.DataFrame:
        path = self.root / "supply" / f"region={region}" / PARTITION_FILE
        if not path.exists():
            return frames.SUPPLY_SCHEMA.empty_table().to_pandas()
        return pq.read_table(path).to_pandas()

    def _read(
        self,
        table: str,
        city: str,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        schema: pa.Schema,
        extra: list[tuple[str, str, object]] | None = None,
    ) -> pd.DataFrame:
        files = self.partition_files(table, city.upper(), start, end)
        if not files:
            return schema.empty_table().to_pandas()
        filters: list[tuple[str, str, object]] = list(extra or [])
        if start is not None:
            filters.append(("ts", ">=", frames.utc_timestamp(start)))
        if end is not None:
            filters.append(("ts", "<", frames.utc_timestamp(end)))
        parts = [pq.read_table(path, schema=schema, filters=filters or None) for path in files]
        result = pa.concat_tables(parts).to_pandas()
        return result.sort_values("ts", kind="stable").reset_index(drop=True)

    # --------------------------------------------------------------- catalogue
    def cities(self) -> list[str]:
        base = self.root / "load"
        if not base.is_dir():
            return []
        return sorted(p.name.split("=", 1)[1] for p in base.glob("city=*") if any(p.glob("year=*/" + PARTITION_FILE)))

    def resolution_minutes(self, city: str) -> int:
        """Inferred from the latest partition: the most common step between stored blocks."""
        files = self.partition_files("load", city.upper())
        if not files:
            raise NotFoundError(f"no load stored for city '{city}'")
        ts = pq.read_table(files[-1], columns=["ts"]).column("ts").to_numpy()
        return infer_resolution(ts)


    def load_span(self, city: str, before: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """From the ``ts`` columns of the first and last year partitions that can hold rows before ``before``."""
        files = self.partition_files("load", city.upper(), None, before)
        if not files:
            return None
        first = pq.read_table(files[0], columns=["ts"]).column("ts")
        last = first if len(files) == 1 else pq.read_table(files[-1], columns=["ts"]).column("ts")
        if before is not None:
            bound = pa.scalar(frames.utc_timestamp(before), type=first.type)
            first = first.filter(pc.less(first, bound))
            last = last.filter(pc.less(last, bound))
        if len(first) == 0 or len(last) == 0:
            return None
        lo, hi = pc.min(first).as_py(), pc.max(last).as_py()
        return pd.Timestamp(lo).tz_convert("UTC"), pd.Timestamp(hi).tz_convert("UTC")


def _partitions(frame: pd.DataFrame) -> Iterator[tuple[str, int, pd.DataFrame]]:
    """(city, UTC year, rows) slices of a frame sorted by city then ts: partitions are contiguous."""
    cities = frame["city"].to_numpy()
    years = frame["ts"].dt.year.to_numpy()
    change = np.flatnonzero((cities[1:] != cities[:-1]) | (years[1:] != years[:-1])) + 1
    bounds = [0, *change.tolist(), len(frame)]
    for low, high in zip(bounds[:-1], bounds[1:]):
        yield str(cities[low]), int(years[low]), frame.iloc[low:high].reset_index(drop=True)


def infer_resolution(ts: np.ndarray) -> int:
    """The most common positive step (minutes) between sorted timestamps; 15 when undecidable."""
    values = np.sort(np.asarray(ts).astype("datetime64[us]").astype("int64"))
    steps = np.diff(values)
    steps = steps[steps > 0]
    if steps.size == 0:
        return 15
    uniques, counts = np.unique(steps, return_counts=True)
    return int(uniques[np.argmax(counts)] // 60_000_000)
