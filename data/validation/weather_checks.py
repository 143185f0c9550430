"""Rules for weather records: identity, physical ranges, duplicates.

A value outside ``data.schema.WEATHER_RANGES`` is refused on its own (set to null, the
record repaired), because one broken humidity sensor should not throw away the
temperature beside it; a record left with no value at all is rejected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.catalogue import Catalogue
from data.schema import WEATHER_KINDS, WEATHER_RANGES, WEATHER_VALUES
from data.transform.frames import conform_weather, us_from_ts
from data.validation.time_range import TimeRange
from data.validation.verdicts import Verdicts


def check_weather(weather: pd.DataFrame, catalogue: Catalogue, v: Verdicts, time_range: TimeRange) -> pd.DataFrame:
    """The accepted and repaired weather records in the contract's shape, sorted."""
    if "error" in weather:
        v.reject(weather["error"].notna().to_numpy(), None, weather["error"].astype(object).to_numpy(),
                 weather["error_field"].astype(object).fillna("row").to_numpy())
    city_id, names = pd.factorize(weather["city"], use_na_sentinel=True)
    names = np.asarray(names, dtype=object)
    known = np.array([str(n) in catalogue.codes for n in names] + [False], dtype=bool)[city_id]
    v.reject(~known, "unknown_city", lambda index: [
        f"unknown city '{names[city_id[i]] if city_id[i] >= 0 else ''}' (not in the catalogue)" for i in index], "city")
    v.reject(weather["ts"].isna().to_numpy(), "missing_timestamp", "missing timestamp", "timestamp")
    if "kind" in weather:
        kind_id, kinds = pd.factorize(weather["kind"], use_na_sentinel=True)
        kind_names = [str(k) for k in kinds]
    else:
        kind_id, kind_names = np.zeros(len(weather), dtype=np.int64), ["observed"]
    valid_kind = np.array([k in WEATHER_KINDS for k in kind_names] + [False], dtype=bool)[kind_id]
    v.reject(~valid_kind, "bad_kind", "kind must be observed or forecast", "kind")
    forecast = kind_id == kind_names.index("forecast") if "forecast" in kind_names else None
    time_range.reject_outside(us_from_ts(weather["ts"]), v, "timestamp", forecast=forecast)
    if "issued_at" in weather and "forecast" in kind_names:
        is_forecast = kind_id == kind_names.index("forecast")
        v.reject(is_forecast & weather["issued_at"].isna().to_numpy(), "missing_issued_at",
                 "forecast without issued_at", "issued_at")
    values = {}
    first_bad = np.full(len(weather), None, dtype=object)
    for name in WEATHER_VALUES:
        if name not in weather:
            continue
        column = weather[name].to_numpy(dtype=np.float64).copy()
        low, high = WEATHER_RANGES[name]
        outside = ~np.isnan(column) & ((column < low) | (column > high))
        first_bad[outside & (first_bad == None)] = name  # noqa: E711 (elementwise)
        v.repair(outside, "weather_out_of_range_nulled")
        column[outside] = np.nan
        values[name] = column
    if values:
        empty = np.all(np.isnan(np.column_stack(list(values.values()))), axis=1)
        v.reject(empty, "no_weather_value", lambda index: [
            f"{first_bad[i]} outside its physical range {WEATHER_RANGES[first_bad[i]]}" if first_bad[i]
            else "no weather value" for i in index], np.where(first_bad == None, "weather", first_bad))  # noqa: E711
    keep = v.pending
    frame = pd.DataFrame({
        "city": pd.Categorical.from_codes(city_id[keep], [str(n) for n in names]),
        "ts": weather["ts"][keep].reset_index(drop=True),
        "kind": pd.Categorical.from_codes(kind_id[keep], kind_names),
        "issued_at": (weather["issued_at"][keep].reset_index(drop=True) if "issued_at" in weather
                      else pd.Series(pd.NaT, index=range(int(keep.sum())), dtype="datetime64[us, UTC]")),
        **{name: column[keep] for name, column in values.items()},
    })
    key = pd.DataFrame({"c": city_id[keep], "t": us_from_ts(frame["ts"]), "k": kind_id[keep],
                        "i": us_from_ts(frame["issued_at"])})
    duplicated = key.duplicated(keep=False).to_numpy()
    if duplicated.any():
        v.repair(_mask(len(v), np.flatnonzero(keep)[duplicated]), "duplicate_merged")
        merged = (frame[duplicated].groupby(["city", "ts", "kind", "issued_at"], dropna=False, sort=False,
                                            observed=True)[list(values)].mean().reset_index())
        frame = pd.concat([frame[~duplicated], merged], ignore_index=True)
        key = pd.DataFrame({"c": frame["city"].cat.codes.to_numpy(), "t": us_from_ts(frame["ts"]),
                            "k": frame["kind"].cat.codes.to_numpy(), "i": us_from_ts(frame["issued_at"])})
    c, t, k, i = (key[col].to_numpy() for col in ("c", "t", "k", "i"))
    rank = np.argsort(np.argsort(np.array([str(n) for n in names], dtype=str))) if len(names) else np.zeros(0, int)
    c = rank[c] if len(c) else c
    ordered = len(c) < 2 or bool(np.all((np.diff(c) > 0) | ((np.diff(c) == 0) & (np.diff(t) > 0))))
    if not ordered:
        frame = frame.iloc[np.lexsort((i, k, t, c))]
    return conform_weather(frame.reset_index(drop=True))


def _mask(n: int, index: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[index] = True
    return mask
