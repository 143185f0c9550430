"""The forecast store: every forecast the platform issued, kept to be scored later.

The monitor compares what was forecast with the actuals that arrive afterwards, so a
forecast must be kept as it was issued: city, target blocks with P10/P50/P90, model
version, issue time (``as_of``), lead and whether it was degraded. One forecast is
identified by (city, target day, ``as_of``, model version): storing it again (the daily job
rerun, the same request computed twice) upserts its blocks and never adds a second one.

``FileForecastStore`` (the embedded default) keeps Parquet files under
``forecasts/city=XXX/year=YYYY/`` beside the lake (a compacted ``data.parquet`` and the
parts appended since), one row per block;
``data.stores.postgres.forecasts.PostgresForecastStore`` keeps the same in the tables of
migration 0005. ``data.stores.open_forecasts`` chooses.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from data.stores.locking import folder_lock

Source = Literal["served", "scheduled"]
KEY_COLUMNS = ("city", "target_day", "as_of", "model_version")
BLOCK_COLUMNS = (*KEY_COLUMNS, "issued_at", "lead_hours", "degraded", "source", "ts", "p10", "p50", "p90")


def _utc(value: datetime) -> datetime:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError("must carry a timezone")
    return stamp.tz_convert("UTC").to_pydatetime()


class ForecastPoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    ts: datetime
    p10: float
    p50: float
    p90: float

    @field_validator("ts")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _utc(value)


class StoredForecast(BaseModel):
    """One issued forecast as the store keeps it (times in UTC, ``target_day`` in the city's local calendar)."""

    model_config = ConfigDict(frozen=True)

    city: str = Field(min_length=1, max_length=32)
    target_day: date
    as_of: datetime
    model_version: str = Field(min_length=1)
    issued_at: datetime
    lead_hours: float = Field(description="From the issue time to the first block.")
    degraded: bool
    source: Source
    points: list[ForecastPoint] = Field(min_length=1)

    @field_validator("city")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("as_of", "issued_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _utc(value)

    @model_validator(mode="after")
    def _ordered_quantiles(self) -> "StoredForecast":
        for point in self.points:
            if not point.p10 <= point.p50 <= point.p90:
                raise ValueError(f"points: P10 <= P50 <= P90 fails at {point.ts.isoformat()}")
        return self

    def blocks(self) -> pd.DataFrame:
        """The forecast as rows of ``BLOCK_COLUMNS``, one per block."""
        return blocks_of([self])


class ForecastSummary(BaseModel):
    """One stored forecast without its blocks: what ``efp forecasts list`` shows."""

    city: str
    target_day: date
    as_of: datetime
    model_version: str
    issued_at: datetime
    lead_hours: float
    degraded: bool
    source: Source
    blocks: int


@runtime_checkable
class ForecastStore(Protocol):
    def write(self, forecasts: Sequence[StoredForecast]) -> int:
        """Upsert forecasts; returns how many were new (an identical rerun returns 0)."""
        ...

    def write_blocks(self, blocks: pd.DataFrame) -> int:
        """``write`` for forecasts given as block rows (``BLOCK_COLUMNS``), refused whole by ``valid_blocks``:
        the service's recorder builds these from arrays, without a record per forecast and a point per block."""
        ...

    def read(self, city: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.DataFrame:
        """Blocks (``BLOCK_COLUMNS``) of the city's forecasts whose block ``ts`` is in ``[start, end)``."""
        ...

    def list(self, city: str, limit: int = 100) -> list[ForecastSummary]:
        """The city's forecasts, newest target day and issue time first."""
        ...

    def cities(self) -> list[str]:
        """Cities with a stored forecast."""
        ...


def conform_blocks(frame: pd.DataFrame) -> pd.DataFrame:
    """Block rows with the store's dtypes: UTC timestamps, ``target_day`` a date, floats, bools."""
    out = frame.reindex(columns=list(BLOCK_COLUMNS)).copy()
    for name in ("as_of", "issued_at", "ts"):
        out[name] = pd.to_datetime(out[name], utc=True).astype("datetime64[us, UTC]")
    out["target_day"] = pd.to_datetime(out["target_day"]).dt.date
    for name in ("lead_hours", "p10", "p50", "p90"):
        out[name] = out[name].astype(float)
    out["degraded"] = out["degraded"].astype(bool)
    for name in ("city", "model_version", "source"):
        out[name] = out[name].astype(str)
    return out.sort_values(["ts", "as_of"], kind="stable").reset_index(drop=True)


def valid_blocks(blocks: pd.DataFrame) -> pd.DataFrame:
    """Block rows with the store's dtypes, checked as ``StoredForecast`` checks a record: every key and
    time present, P10 <= P50 <= P90 in every block. A ``ValueError`` names the first block that fails."""
    missing = [name for name in BLOCK_COLUMNS if name not in blocks.columns]
    if missing:
        raise ValueError(f"forecast blocks: missing column(s) {', '.join(missing)}")
    out = conform_blocks(blocks)
    unset = out[[*KEY_COLUMNS, "issued_at", "ts"]].isna().any(axis=1)
    disordered = ~((out["p10"] <= out["p50"]) & (out["p50"] <= out["p90"]))
    for problem, rows in (("a key or time is missing", unset), ("P10 <= P50 <= P90 fails", disordered)):
        if rows.any():
            first = out[rows].iloc[0]
            raise ValueError(f"forecast blocks: {problem} at {first['city']} {first['ts']} (model {first['model_version']})")
    return out


def blocks_of(forecasts: Sequence[StoredForecast]) -> pd.DataFrame:
    """Many forecasts' blocks as one frame, built column by column (a frame per forecast cost
    more than the model's own time when the recorder stores every served forecast)."""
    counts = [len(f.points) for f in forecasts]
    columns: dict[str, object] = {
        name: [getattr(p, name) for f in forecasts for p in f.points] for name in ("ts", "p10", "p50", "p90")}
    for name in ("city", "target_day", "as_of", "model_version", "issued_at", "lead_hours", "degraded", "source"):
        columns[name] = [value for f, n in zip(forecasts, counts) for value in [getattr(f, name)] * n]
    return conform_blocks(pd.DataFrame(columns))


def _frame_keys(blocks: pd.DataFrame) -> set[tuple]:
    """The forecasts' keys (``KEY_COLUMNS``, ``as_of`` in epoch microseconds) of a block frame: plain
    values per block row, cheaper than deduplicating the frame or making a ``Timestamp`` per row."""
    as_of = pd.to_datetime(blocks["as_of"], utc=True).dt.as_unit("us").astype("int64")
    # object arrays first: Arrow-backed strings iterate an element at a time
    columns = [blocks[name].to_numpy(dtype=object) for name in ("city", "target_day", "model_version")]
    return set(zip(columns[0], columns[1], as_of.tolist(), columns[2]))


def empty_blocks() -> pd.DataFrame:
    return conform_blocks(pd.DataFrame(columns=list(BLOCK_COLUMNS)))


def summarise(blocks: pd.DataFrame, limit: int) -> list[ForecastSummary]:
    """One summary per forecast of a block frame, newest first."""
    if blocks.empty:
        return []
    grouped = blocks.groupby(list(KEY_COLUMNS), sort=False).agg(
        issued_at=("issued_at", "min"), lead_hours=("lead_hours", "min"), degraded=("degraded", "max"),
        source=("source", "first"), blocks=("ts", "size")).reset_index()
    grouped = grouped.sort_values(["target_day", "as_of"], ascending=False).head(limit)
    return [ForecastSummary(**{k: (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v) for k, v in row.items()})
            for row in grouped.to_dict("records")]


def stored_forecasts(blocks: pd.DataFrame) -> list[StoredForecast]:
    """The forecasts of a block frame (``BLOCK_COLUMNS``) as records, oldest target day and
    issue time first; the inverse of ``StoredForecast.blocks`` for the blocks present."""
    if blocks.empty:
        return []
    ordered = blocks.sort_values(["target_day", "as_of", "model_version", "ts"], kind="stable")
    records = []
    for _, part in ordered.groupby(list(KEY_COLUMNS), sort=False):
        first = part.iloc[0]
        points = [ForecastPoint(ts=row.ts.to_pydatetime(), p10=row.p10, p50=row.p50, p90=row.p90) for row in part.itertuples()]
        records.append(StoredForecast(
            city=first["city"], target_day=first["target_day"], as_of=first["as_of"].to_pydatetime(),
            model_version=first["model_version"], issued_at=part["issued_at"].min().to_pydatetime(),
            lead_hours=float(part["lead_hours"].min()), degraded=bool(part["degraded"].any()), source=first["source"],
            points=points))
    return records


class FileForecastStore:
    """Forecast blocks in Parquet, partitioned by city and the UTC year of the block.

    A write appends one immutable part file per (city, year) instead of rewriting the year:
    the service's recorder writes every computed forecast from the ingress process, where
    rewriting a growing year file per batch held the GIL long enough to slow every request
    (issue 10's profile). Reads merge the compacted base and the parts in write order with
    the upsert rule; past ``COMPACT_AFTER`` parts a writer folds them into the base.
    """

    _lock = threading.Lock()
    #: Parts a (city, year) folder may hold before a write compacts them into its base file.
    COMPACT_AFTER = 16
    BASE = "data.parquet"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # Stored keys per file, so a write reads only the files it has not seen (parts never change).
        self._keys: dict[tuple[Path, int], set[tuple]] = {}

    def _locked(self) -> AbstractContextManager[None]:
        """Exclusive across threads and processes (the service's recorder and the daily job may write together)."""
        return folder_lock(self.root, self._lock)

    def _folder(self, city: str, year: int) -> Path:
        return self.root / f"city={city}" / f"year={year}"

    def _years(self, city: str) -> list[Path]:
        return sorted(p for p in (self.root / f"city={city.upper()}").glob("year=*") if p.is_dir())

    @classmethod
    def _parts(cls, folder: Path) -> list[Path]:
        """The year's files in write order: the base, then the parts (named by their write time)."""
        base = folder / cls.BASE
        return ([base] if base.exists() else []) + sorted(folder.glob("part-*.parquet"))

    @staticmethod
    def _merge(frames: list[pd.DataFrame]) -> pd.DataFrame:
        """Frames in write order as one: a forecast keeps its first issue time, its blocks the newest values."""
        merged = conform_blocks(pd.concat(frames, ignore_index=True))
        first_issue = merged.groupby(list(KEY_COLUMNS))["issued_at"].transform("min")
        return conform_blocks(merged.assign(issued_at=first_issue).drop_duplicates([*KEY_COLUMNS, "ts"], keep="last"))

    @staticmethod
    def _replace(path: Path, frame: pd.DataFrame) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.parent / f".{uuid.uuid4().hex}.tmp"
        frame.to_parquet(temp, index=False)
        os.replace(temp, path)

    def write(self, forecasts: Sequence[StoredForecast]) -> int:
        return self.write_blocks(blocks_of(forecasts)) if forecasts else 0

    def write_blocks(self, blocks: pd.DataFrame) -> int:
        if blocks.empty:
            return 0
        new = valid_blocks(blocks)
        with self._locked():
            stored_keys = self._stored_keys(set(new["city"].unique()))
            fresh = len(_frame_keys(new) - stored_keys)
            for (city, year), part in new.groupby([new["city"], new["ts"].dt.year]):
                folder = self._folder(str(city), int(year))
                path = folder / f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
                self._replace(path, part)
                self._keys[(path, path.stat().st_mtime_ns)] = _frame_keys(part)
                files = self._parts(folder)
                if len(files) > self.COMPACT_AFTER:
                    self._replace(folder / self.BASE, self._merge([pd.read_parquet(f) for f in files]))
                    for stale in files:
                        if stale.name != self.BASE:
                            stale.unlink()
        return fresh

    def _stored_keys(self, cities: set[str]) -> set[tuple]:
        keys: set[tuple] = set()
        for city in cities:
            for folder in self._years(city):
                for path in self._parts(folder):
                    entry = (path, path.stat().st_mtime_ns)  # the base changes when parts are compacted into it
                    if entry not in self._keys:
                        self._keys[entry] = _frame_keys(pd.read_parquet(path, columns=list(KEY_COLUMNS)))
                    keys |= self._keys[entry]
        live = {(p, p.stat().st_mtime_ns) for p in self.root.glob("city=*/year=*/*.parquet")}
        self._keys = {entry: value for entry, value in self._keys.items() if entry in live}
        return keys

    def read(self, city: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.DataFrame:
        with self._locked():  # a compaction must not remove a part between listing and reading it
            years = [[pd.read_parquet(path) for path in self._parts(folder)] for folder in self._years(city)]
        merged = [self._merge(frames) for frames in years if frames]
        frame = conform_blocks(pd.concat(merged, ignore_index=True)) if merged else empty_blocks()
        if start is not None:
            frame = frame[frame["ts"] >= pd.Timestamp(start).tz_convert("UTC")]
        if end is not None:
            frame = frame[frame["ts"] < pd.Timestamp(end).tz_convert("UTC")]
        return frame.reset_index(drop=True)

    def list(self, city: str, limit: int = 100) -> list[ForecastSummary]:
        return summarise(self.read(city), limit)

    def cities(self) -> list[str]:
        return sorted(p.name.split("=", 1)[1] for p in self.root.glob("city=*") if p.is_dir())
