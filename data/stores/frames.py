"""Bring frames to the data contract and merge them by key, for every store alike.

Both stores accept whatever a connector or the validator produced (pandas, any datetime
unit, naive-or-aware UTC timestamps) and must store exactly ``data.schema``; doing the
conversion in one place means the lake and PostgreSQL can never disagree on a dtype.
The merge is vectorised (one index lookup per partition), never a Python loop over rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from data.schema import LOAD_FLAGS, LOAD_SCHEMA, WEATHER_SCHEMA, WEATHER_VALUES
from data.stores.base import WriteCounts

LOAD_KEYS = ("ts",)
LOAD_VALUES = ("load_mw", *LOAD_FLAGS)
WEATHER_KEYS = ("ts", "kind", "issued_at")
WEATHER_VALUE_COLUMNS = WEATHER_VALUES
SUPPLY_KEYS = ("date",)
SUPPLY_VALUES = ("max_demand_met_mw", "energy_met_mu", "shortage_mu")

SUPPLY_SCHEMA = pa.schema(
    [
        pa.field("region", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("max_demand_met_mw", pa.float64()),
        pa.field("energy_met_mu", pa.float64()),
        pa.field("shortage_mu", pa.float64()),
    ]
)


def utc_timestamp(value: pd.Timestamp | str) -> pd.Timestamp:
    """A bound given by a caller as a UTC timestamp (naive means UTC)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _utc(values: pd.Series) -> pd.Series:
    series = pd.to_datetime(values, utc=True)
    return series.dt.as_unit("us")


def _col(series: pd.Series) -> pd.Series:
    return series.reset_index(drop=True)


def conform_load(frame: pd.DataFrame) -> pd.DataFrame:
    """Load rows in contract dtypes, one row per (city, ts) (the last wins), sorted."""
    out = pd.DataFrame(
        {
            "city": _col(frame["city"].astype(str)),
            "ts": _col(_utc(frame["ts"])),
            "load_mw": _col(frame["load_mw"].astype("float64")),
        }
    )
    for flag in LOAD_FLAGS:
        out[flag] = _col(frame[flag].fillna(False).astype(bool)) if flag in frame else False
    return _dedup_sorted(out, ["city", "ts"])


def conform_weather(frame: pd.DataFrame) -> pd.DataFrame:
    """Weather rows in contract dtypes, one row per (city, ts, kind, issued_at), sorted."""
    out = pd.DataFrame({"city": _col(frame["city"].astype(str)), "ts": _col(_utc(frame["ts"]))})
    for name in WEATHER_VALUES:
        out[name] = _col(frame[name].astype("float64")) if name in frame else np.nan
    out["kind"] = _col(frame["kind"].fillna("observed").astype(str)) if "kind" in frame else "observed"
    if "issued_at" in frame:
        out["issued_at"] = _col(_utc(frame["issued_at"]))
    else:
        out["issued_at"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[us, UTC]")
    return _dedup_sorted(out, ["city", "ts", "kind", "issued_at"])


def conform_supply(frame: pd.DataFrame) -> pd.DataFrame:
    """Grid-India daily supply rows: region, date (a calendar date) and the three figures."""
    out = pd.DataFrame(
        {
            "region": _col(frame["region"].astype(str)),
            "date": _col(pd.to_datetime(frame["date"]).dt.date),
        }
    )
    for name in SUPPLY_VALUES:
        out[name] = _col(frame[name].astype("float64")) if name in frame else np.nan
    return _dedup_sorted(out, ["region", "date"])


def key_arrays(frame: pd.DataFrame, keys: Sequence[str]) -> list[np.ndarray]:
    """Each key column as an int64 array: times as microseconds, text by first appearance.

    Text needs only grouping, not alphabetical order (stores read one city at a time), and
    first-appearance codes keep a frame that arrives grouped by city in its own order, so
    the common case needs no reordering at all."""
    arrays = []
    for key in keys:
        column = frame[key]
        if pd.api.types.is_datetime64_any_dtype(column):
            arrays.append(column.to_numpy(dtype="datetime64[us]").view("int64"))
        else:
            values = pa.array(column.astype(str))
            if isinstance(values, pa.ChunkedArray):
                values = values.combine_chunks()
            encoded = values.cast(pa.string()).dictionary_encode()
            arrays.append(encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64))
    return arrays


def _dedup_sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort by ``keys`` and keep the last of duplicate keys, with numpy (pandas' sort and
    drop_duplicates on a text column cost seconds per million rows). Already sorted,
    unique input (what validation hands over) is returned as is."""
    if len(frame) < 2:
        return frame.reset_index(drop=True)
    arrays = key_arrays(frame, keys)
    order = np.lexsort(arrays[::-1])
    ordered = [array[order] for array in arrays]
    same_as_next = np.ones(len(frame) - 1, dtype=bool)
    for array in ordered:
        same_as_next &= array[1:] == array[:-1]
    keep = np.ones(len(frame), dtype=bool)
    keep[:-1] = ~same_as_next  # of equal keys the last one (input order is kept by the stable lexsort)
    if keep.all() and np.array_equal(order, np.arange(len(frame))):
        return frame.reset_index(drop=True)
    return frame.iloc[order[keep]].reset_index(drop=True)


def load_table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame[list(LOAD_SCHEMA.names)], schema=LOAD_SCHEMA, preserve_index=False)


def weather_table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame[list(WEATHER_SCHEMA.names)], schema=WEATHER_SCHEMA, preserve_index=False)


def supply_table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame[list(SUPPLY_SCHEMA.names)], schema=SUPPLY_SCHEMA, preserve_index=False)


def empty_load() -> pd.DataFrame:
    return LOAD_SCHEMA.empty_table().to_pandas()


def empty_weather() -> pd.DataFrame:
    return WEATHER_SCHEMA.empty_table().to_pandas()


def _key_index(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Index:
    arrays = []
    for key in keys:
        column = frame[key]
        if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(column):
            # NaT (an observed reading's issued_at) becomes one sentinel so it matches itself.
            arrays.append(column.to_numpy(dtype="datetime64[us]").view("int64"))
        else:
            arrays.append(column.astype(str).to_numpy())
    if len(arrays) == 1:
        return pd.Index(arrays[0])
    return pd.MultiIndex.from_arrays(arrays)


def _differs(old: pd.DataFrame, new: pd.DataFrame, values: Sequence[str]) -> np.ndarray:
    changed = np.zeros(len(new), dtype=bool)
    for name in values:
        a = old[name].to_numpy()
        b = new[name].to_numpy()
        same = a == b
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            same |= pd.isna(a) & pd.isna(b)
        changed |= ~same
    return changed


def upsert(
    existing: pd.DataFrame | None, new: pd.DataFrame, keys: Sequence[str], values: Sequence[str]
) -> tuple[pd.DataFrame, WriteCounts]:
    """Merge ``new`` into ``existing`` by ``keys``; new values win. Returns the merged frame and counts."""
    if existing is None or existing.empty:
        return new.reset_index(drop=True), WriteCounts(inserted=len(new))
    existing_keys = _key_index(existing, keys)
    new_keys = _key_index(new, keys)
    positions = existing_keys.get_indexer(new_keys)
    present = positions >= 0
    old_rows = existing.iloc[positions[present]].reset_index(drop=True)
    new_rows = new.loc[present].reset_index(drop=True)
    updated = int(_differs(old_rows, new_rows, values).sum())
    counts = WriteCounts(
        inserted=int((~present).sum()), unchanged=int(present.sum()) - updated, updated=updated
    )
    if counts.inserted == 0 and counts.updated == 0:
        return existing, counts
    kept = existing.loc[~existing_keys.isin(new_keys)]
    merged = pd.concat([kept, new], ignore_index=True)
    return merged.sort_values(list(keys), kind="stable").reset_index(drop=True), counts
