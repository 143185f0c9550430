"""CSV and Parquet in the canonical schema (docs/contracts.md, "Data contract", CSV/Parquet import).

Columns: ``timestamp`` (ISO 8601; without offset it is the city's own time), ``load_mw``,
optional ``city``, optional ``load_shedding`` and weather columns by their contract names.
``column_map`` renames source columns to those names (``{"Datetime": "timestamp"}``);
``city`` is used where the file has no city column (or a blank cell).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.catalogue import Catalogue
from data.connectors.files import normalise, read_text, split_csv
from data.connectors.parsing import (RowErrors, localize_by_city, parse_numbers, parse_timestamps,
                                     refuse_if_unusable)
from data.errors import InputFileError
from data.records import SourceBatch
from data.schema import WEATHER_VALUES

REQUIRED = ("timestamp", "load_mw")
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


def read_csv(
    path: str | Path,
    *,
    city: str | None = None,
    column_map: dict[str, str] | None = None,
    default_timezone: str | None = None,
    catalogue: Catalogue | None = None,
    **_: object,
) -> SourceBatch:
    """A canonical CSV; the header is line 1 and every row keeps its line for quarantine."""
    path = str(path)
    parsed = split_csv(path, read_text(path))
    names = _canonical_names(parsed.header, column_map, path, parsed.header_line)
    width = len(parsed.header)
    errors_by_shape = [i for i, row in enumerate(parsed.rows) if len(row) != width]
    rows = [row[:width] + [""] * (width - len(row)) for row in parsed.rows]
    table = pd.DataFrame(rows, columns=parsed.header, dtype="string")
    batch = _batch(table, names, np.asarray(parsed.lines), pd.Series(parsed.raw, dtype="string"), source="csv",
                   path=path, city=city, catalogue=catalogue, default_timezone=default_timezone)
    if errors_by_shape:
        index = np.asarray(errors_by_shape)
        found = np.array([len(parsed.rows[i]) for i in errors_by_shape])
        reasons = [f"wrong number of fields (expected {width}, found {k})" for k in found]
        batch.load.loc[index, "error"] = pd.array(reasons, dtype="string")
        batch.load.loc[index, "error_field"] = "row"
    refuse_if_unusable(batch.load, path)
    return batch


def read_parquet(
    path: str | Path,
    *,
    city: str | None = None,
    column_map: dict[str, str] | None = None,
    default_timezone: str | None = None,
    catalogue: Catalogue | None = None,
    **_: object,
) -> SourceBatch:
    """A canonical Parquet file; ``line`` is the 1-based row number (no header line)."""
    path = str(path)
    if not Path(path).is_file():
        raise InputFileError(path, "file not found")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise InputFileError(path, f"not a Parquet file ({str(error).splitlines()[0]})") from None
    if table.num_rows == 0:
        raise InputFileError(path, "file has no rows")
    frame = table.to_pandas()
    names = _canonical_names(list(frame.columns), column_map, path, None)
    lines = np.arange(1, len(frame) + 1)
    batch = _batch(frame, names, lines, None, source="parquet", path=path, city=city, catalogue=catalogue,
                   default_timezone=default_timezone)
    refuse_if_unusable(batch.load, path)
    return batch
