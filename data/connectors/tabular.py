"""CSV and Parquet in the canonical schema (docs/contracts.md, "Data contract", CSV/Parquet import).

Both are read in chunks of ``ingest.chunk_rows`` rows (``iter_csv``, ``iter_parquet``): the
text and cells of one chunk exist at a time, and each chunk becomes typed columns at once.
``read_csv``/``read_parquet`` combine the chunks into the one batch validation judges
(``combine`` says why the series rules need the whole file).

Columns: ``timestamp`` (ISO 8601; without offset it is the city's own time), ``load_mw``,
optional ``city``, optional ``load_shedding`` and weather columns by their contract names.
``column_map`` renames source columns to those names (``{"Datetime": "timestamp"}``);
``city`` is used where the file has no city column (or a blank cell).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.catalogue import Catalogue
from data.connectors.files import CsvRows, normalise, stream_csv
from data.connectors.parsing import (RowErrors, localize_by_city, parse_numbers, parse_timestamps,
                                     refuse_if_unusable)
from data.errors import InputFileError
from data.records import SourceBatch
from data.schema import WEATHER_VALUES
from data.settings import IngestSettings

REQUIRED = ("timestamp", "load_mw")
DEFAULT_CHUNK_ROWS: int = IngestSettings.model_fields["chunk_rows"].default
TRUE_TEXT = {"1", "true", "t", "yes", "y"}


def _canonical_names(columns: list[str], column_map: dict[str, str] | None, path: str, header_line: int | None):
    """Source column -> canonical name, with the map applied and duplicates refused."""
    wanted = {normalise(k): v for k, v in (column_map or {}).items()}
    renamed: dict[str, str] = {}
    for column in columns:
        name = wanted.get(normalise(column), normalise(column))
        if name in renamed.values():
            raise InputFileError(path, f"two columns map to '{name}'", line=header_line, column=column)
        renamed[column] = name
    present = set(renamed.values())
    for name in REQUIRED:
        if name not in present:
            raise InputFileError(path, f"missing required column '{name}' (found: {', '.join(columns)})",
                                 line=header_line, column=name)
    return renamed


def _batch(
    table: pd.DataFrame,
    names: dict[str, str],
    lines: np.ndarray,
    raw: pd.Series | None,
    *,
    source: str,
    path: str,
    city: str | None,
    catalogue: Catalogue | None,
    default_timezone: str | None,
) -> SourceBatch:
    """Canonical load and weather frames from source columns (text or typed)."""
    source_of = {canonical: column for column, canonical in names.items()}
    n = len(table)
    errors = RowErrors(n)
    if "city" in source_of:
        cities = table[source_of["city"]].astype("string").str.strip().str.upper()
        cities = cities.where(cities != "", city.upper() if city else pd.NA)
    elif city is not None:
        cities = pd.Series([city.upper()] * n, dtype="string")
    else:
        raise InputFileError(path, "the file has no 'city' column: name the city (--city CODE)", column="city")
    cities = cities.reset_index(drop=True)
    errors.add(cities.isna().to_numpy(), "missing city (no value and no --city)", source_of.get("city", "city"))
    stamp = table[source_of["timestamp"]].reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(stamp.dtype):
        ts = stamp if getattr(stamp.dt, "tz", None) is not None else None
        if ts is None:
            ts = localize_by_city(stamp.astype("datetime64[us]"), cities, catalogue, default_timezone, path)
        ts = ts.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        errors.add(ts.isna().to_numpy() & cities.notna().to_numpy() & stamp.notna().to_numpy()
                   & cities.isin(catalogue.codes if catalogue else []).to_numpy(),
                   "local time that does not exist or is ambiguous (DST)", source_of["timestamp"])
        errors.add(stamp.isna().to_numpy(), "missing timestamp", source_of["timestamp"])
    else:
        ts = parse_timestamps(stamp.astype("string"), source_of["timestamp"], cities, errors,
                              catalogue=catalogue, default_timezone=default_timezone, path=path)

    def numbers(canonical: str, required: bool) -> np.ndarray:
        column = table[source_of[canonical]].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
            values = column.astype(float).to_numpy()
            if required:
                errors.add(np.isnan(values), f"missing {canonical}", source_of[canonical])
            return values
        return parse_numbers(column.astype("string"), source_of[canonical], errors, required=required)

    load_mw = numbers("load_mw", True)
    shedding = np.zeros(n, dtype=bool)
    if "load_shedding" in source_of:
        flag = table[source_of["load_shedding"]].reset_index(drop=True)
        shedding = flag.astype("string").str.strip().str.lower().isin(TRUE_TEXT).fillna(False).to_numpy(dtype=bool)
    load = pd.DataFrame({"line": lines.astype(np.int64), "city": cities, "ts": ts, "load_mw": load_mw,
                         "load_shedding": shedding})
    if raw is not None:
        load["raw"] = raw.reset_index(drop=True).astype("string")
    errors.attach(load)
    weather_names = [name for name in WEATHER_VALUES if name in source_of]
    weather = pd.DataFrame()
    if weather_names:
        weather_errors = RowErrors(n)
        values = {}
        for name in weather_names:
            column = table[source_of[name]].reset_index(drop=True)
            if pd.api.types.is_numeric_dtype(column.dtype):
                values[name] = column.astype(float).to_numpy()
            else:
                values[name] = parse_numbers(column.astype("string"), source_of[name], weather_errors, required=False)
        weather = pd.DataFrame({"line": load["line"], "city": cities, "ts": ts, **values})
        weather["kind"] = "observed"
        weather["issued_at"] = pd.Series(pd.NaT, index=weather.index, dtype="datetime64[us, UTC]")
        weather_errors.attach(weather)
        present = weather[weather_names].notna().any(axis=1) | weather["error"].notna()
        weather = weather[present.to_numpy()].reset_index(drop=True)
    return SourceBatch(source=source, path=path, load=load, weather=weather)


@dataclass(frozen=True)
class ReaderOptions:
    """The keywords these readers use; others are ignored, because the CLI passes every
    reader the same ones (``date``, ``kind``, ...)."""

    city: str | None = None
    column_map: dict[str, str] | None = None
    default_timezone: str | None = None
    catalogue: Catalogue | None = None

    @classmethod
    def of(cls, options: dict[str, Any]) -> "ReaderOptions":
        return cls(**{f.name: options[f.name] for f in fields(cls) if f.name in options})

    def for_batch(self) -> dict[str, Any]:
        return {"city": self.city, "catalogue": self.catalogue, "default_timezone": self.default_timezone}


def _csv_chunk(parsed: CsvRows, names: dict[str, str], **options) -> SourceBatch:
    """One chunk of CSV rows as a batch; a row of the wrong width is a row error."""
    width = len(parsed.header)
    errors_by_shape = [i for i, row in enumerate(parsed.rows) if len(row) != width]
    rows = [row[:width] + [""] * (width - len(row)) for row in parsed.rows]
    table = pd.DataFrame(rows, columns=parsed.header, dtype="string")
    batch = _batch(table, names, np.asarray(parsed.lines), pd.Series(parsed.raw, dtype="string"), source="csv",
                   **options)
    if errors_by_shape:
        index = np.asarray(errors_by_shape)
        found = np.array([len(parsed.rows[i]) for i in errors_by_shape])
        reasons = [f"wrong number of fields (expected {width}, found {k})" for k in found]
        batch.load.loc[index, "error"] = pd.array(reasons, dtype="string")
        batch.load.loc[index, "error_field"] = "row"
    return batch


def iter_csv(path: str | Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, **options: Any) -> Iterator[SourceBatch]:
    """A canonical CSV as batches of at most ``chunk_rows`` rows, read as they are asked for;
    the header is line 1 and every row keeps its physical line for quarantine."""
    path, known = str(path), ReaderOptions.of(options)
    stream = stream_csv(path, chunk_rows)
    names = _canonical_names(stream.header, known.column_map, path, stream.header_line)
    for parsed in stream.chunks:
        yield _csv_chunk(parsed, names, path=path, **known.for_batch())


def iter_parquet(path: str | Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, **options: Any) -> Iterator[SourceBatch]:
    """A canonical Parquet file as batches of at most ``chunk_rows`` rows (``iter_batches``);
    ``line`` is the 1-based row number (no header line)."""
    path, known = str(path), ReaderOptions.of(options)
    if not Path(path).is_file():
        raise InputFileError(path, "file not found")
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise InputFileError(path, f"not a Parquet file ({str(error).splitlines()[0]})") from None
    if parquet.metadata.num_rows == 0:
        raise InputFileError(path, "file has no rows")
    columns = [name for name in parquet.schema_arrow.names if not name.startswith("__index_level_")]
    names = _canonical_names(columns, known.column_map, path, None)
    first_line = 1
    for record_batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
        frame = record_batch.to_pandas()
        lines = np.arange(first_line, first_line + len(frame))
        first_line += len(frame)
        yield _batch(frame, names, lines, None, source="parquet", path=path, **known.for_batch())


def combine(batches: Iterable[SourceBatch]) -> SourceBatch:
    """The chunks of one file as one batch, for validation: duplicates, spikes, flatlines and
    gaps are judged on each city's whole series, and a chunk boundary must not change them.
    The chunks hold typed columns only (their text is gone), so this is far smaller than
    the file's text and cells, which exist one chunk at a time."""
    parts = list(batches)
    first = parts[0]

    def joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frames = [frame for frame in frames if not frame.empty]
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else (frames[0] if frames else pd.DataFrame())

    load = joined([part.load for part in parts])
    if load.empty:
        load = first.load
    return SourceBatch(source=first.source, path=first.path, load=load, weather=joined([part.weather for part in parts]))


def read_csv(path: str | Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, **options: object) -> SourceBatch:
    """A canonical CSV (``iter_csv``), read in chunks and combined into one batch."""
    path = str(path)
    batch = combine(iter_csv(path, chunk_rows=chunk_rows, **options))
    refuse_if_unusable(batch.load, path)
    return batch


def read_parquet(path: str | Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, **options: object) -> SourceBatch:
    """A canonical Parquet file (``iter_parquet``), read in chunks and combined into one batch."""
    path = str(path)
    batch = combine(iter_parquet(path, chunk_rows=chunk_rows, **options))
    refuse_if_unusable(batch.load, path)
    return batch
