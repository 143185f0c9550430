"""Frames in the exact shape of ``data.schema`` (column order, dtypes, UTC µs timestamps).

Stores write these without conversion, so every connector's output ends up identical in
shape whatever the source looked like.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from data.schema import LOAD_COLUMNS, LOAD_FLAGS, WEATHER_COLUMNS, WEATHER_VALUES

TS_DTYPE = "datetime64[us, UTC]"


STR_DTYPE = pd.StringDtype(na_value=np.nan)


def city_strings(ids: np.ndarray, names) -> pd.Series:
    """City codes from integer ids, built in Arrow (object arrays of a million strings are slow)."""
    dictionary = pa.array([str(n) for n in names], type=pa.string())
    array = pa.DictionaryArray.from_arrays(pa.array(np.asarray(ids, dtype=np.int32)), dictionary).cast(pa.string())
    return pd.Series(array.to_pandas(types_mapper={pa.string(): STR_DTYPE}.get))


def as_city_strings(column: pd.Series) -> pd.Series:
    if isinstance(column.dtype, pd.CategoricalDtype):
        return city_strings(column.cat.codes.to_numpy(), column.cat.categories)
    if isinstance(column.dtype, pd.StringDtype):
        return column.reset_index(drop=True)
    return column.astype(STR_DTYPE).reset_index(drop=True)


def utc_from_us(values: np.ndarray) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(values.astype("datetime64[us]")).tz_localize("UTC")).astype(TS_DTYPE)


def us_from_ts(series: pd.Series) -> np.ndarray:
    """int64 µs since the epoch (UTC); NaT becomes the int64 minimum. Naive means UTC."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_dtype(series.dtype):
        series = pd.to_datetime(series, utc=True, errors="coerce").dt.tz_localize(None)
    return series.astype("datetime64[us]").to_numpy().view(np.int64)


def conform_load(frame: pd.DataFrame) -> pd.DataFrame:
    """``city, ts, load_mw, imputed, load_shedding, outlier`` from a ``ts_us`` working frame."""
    out = pd.DataFrame({
        "city": as_city_strings(frame["city"]),
        "ts": utc_from_us(frame["ts_us"].to_numpy(dtype=np.int64)),
        "load_mw": frame["load_mw"].to_numpy(dtype=np.float64),
    })
    for flag in LOAD_FLAGS:
        out[flag] = frame[flag].to_numpy(dtype=bool) if flag in frame else np.zeros(len(frame), dtype=bool)
    return out[list(LOAD_COLUMNS)]


def empty_load() -> pd.DataFrame:
    return conform_load(pd.DataFrame({"city": pd.Series([], dtype=str), "ts_us": np.zeros(0, np.int64),
                                      "load_mw": np.zeros(0)}))


def conform_weather(frame: pd.DataFrame) -> pd.DataFrame:
    """Weather columns of the contract; values a source lacks are NaN."""
    out = pd.DataFrame({"city": as_city_strings(frame["city"]), "ts": utc_from_us(us_from_ts(frame["ts"]))})
    for name in WEATHER_VALUES:
        out[name] = frame[name].to_numpy(dtype=np.float64) if name in frame else np.full(len(frame), np.nan)
    out["kind"] = as_city_strings(frame["kind"]) if "kind" in frame else "observed"
    if "issued_at" in frame:
        out["issued_at"] = utc_from_us(us_from_ts(frame["issued_at"]))
    else:
        out["issued_at"] = pd.Series(pd.NaT, index=out.index, dtype=TS_DTYPE)
    return out[list(WEATHER_COLUMNS)]


def empty_weather() -> pd.DataFrame:
    return conform_weather(pd.DataFrame({"city": pd.Series([], dtype=str), "ts": pd.Series([], dtype=TS_DTYPE)}))
