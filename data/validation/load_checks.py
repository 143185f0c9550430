"""Rules for load rows: identity, values, grid, duplicates, spikes and flatlines.

Rows are judged one by one first (city, timestamp and its range, value); then the surviving rows
become one series per city, on which duplicates are merged, spikes clipped and
flatlines flagged. Repairs found on the series are handed back to every input row that
contributed to the repaired point, so the counts stay over input rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.catalogue import Catalogue
from data.transform.frames import us_from_ts
from data.transform.resolution import MINUTE_US, infer_resolution, target_resolution
from data.validation.rules import ValidationRules
from data.validation.time_range import TimeRange
from data.validation.verdicts import Verdicts

NAT = np.iinfo(np.int64).min


@dataclass
class CityIds:
    """Rows' cities as integer ids into ``names`` (-1: missing)."""

    ids: np.ndarray
    names: np.ndarray


@dataclass
class LoadSeries:
    """One point per (city, ts) after the rules, sorted; ``native`` and ``target`` resolutions."""

    frame: pd.DataFrame  # city, ts_us, load_mw, load_shedding, outlier, imputed
    native: dict[str, int]
    target: dict[str, int]


def _mask(n: int, index: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[index] = True
    return mask


def _texts(template: str, *columns: np.ndarray):
    return lambda index: [template.format(*(c[i] for c in columns)) for i in index]


def _row_checks(load: pd.DataFrame, catalogue: Catalogue, rules: ValidationRules, time_range: TimeRange,
                v: Verdicts):
    if "error" in load:
        has_error = load["error"].notna().to_numpy()
        v.reject(has_error, None, load["error"].astype(object).to_numpy(),
                 load["error_field"].astype(object).fillna("row").to_numpy())
    city_id, names = pd.factorize(load["city"], use_na_sentinel=True)
    names = np.asarray(names, dtype=object)
    v.reject(city_id < 0, "missing_city", "missing city", "city")
    known_name = np.array([str(n) in catalogue.codes for n in names] + [False], dtype=bool)
    known = known_name[city_id]
    v.reject(~known, "unknown_city", lambda index: [f"unknown city '{names[city_id[i]]}' (not in the catalogue)"
                                                    for i in index], "city")
    ts_us = us_from_ts(load["ts"])
    v.reject(ts_us == NAT, "missing_timestamp", "missing timestamp", "timestamp")
    time_range.reject_outside(ts_us, v, "timestamp")
    value = load["load_mw"].to_numpy(dtype=np.float64)
    v.reject(np.isnan(value), "missing_load", "missing load_mw", "load_mw")
    v.reject(value < 0, "negative_load", _texts("negative load_mw {}", value), "load_mw")
    peak = np.array([catalogue.get(str(n)).peak_mw if known_name[i] else np.nan for i, n in enumerate(names)]
                    + [np.nan])[city_id]
    limit = rules.max_load_factor * peak
    v.reject(value > limit, "implausible_load",
             _texts("implausible load_mw {} above " + f"{rules.max_load_factor}" + " x peak_mw ({})", value, peak),
             "load_mw")
    return CityIds(city_id, names), ts_us, value


def _grid_checks(city: "CityIds", ts_us, catalogue, rules, declared, v: Verdicts):
    native: dict[str, int] = {}
    target: dict[str, int] = {}
    for index in np.unique(city.ids[v.pending]):
        code = str(city.names[index])
        rows = np.flatnonzero(v.pending & (city.ids == index))
        step = infer_resolution(ts_us[rows], default=declared or 15)
        stored = target_resolution(step, rules.resolutions_minutes)
        if stored is None:
            v.reject(_mask(len(v), rows), "unsupported_resolution",
                     f"series resolution of {step} minutes is not supported "
                     f"({', '.join(map(str, rules.resolutions_minutes))}, or finer than 15)", "timestamp")
            continue
        native[code], target[code] = step, stored
        zone = catalogue.get(code).timezone
        local = pd.DatetimeIndex(ts_us[rows].astype("datetime64[us]")).tz_localize("UTC").tz_convert(zone)
        local_us = local.tz_localize(None).asi8
        off_grid = local_us % (step * MINUTE_US) != 0
        v.reject(_mask(len(v), rows[off_grid]), "off_grid_timestamp", f"timestamp not on the {step}-minute grid of {code}", "timestamp")
    return native, target


def _median_of_neighbours(values: np.ndarray, city_id: np.ndarray, ts: np.ndarray,
                          step_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median of the points up to two steps away on each side (same city, not across a
    longer gap, where the time of day differs), and how many there were."""
    n = len(values)
    stack = np.full((n, 4), np.nan)
    for column, shift in enumerate((-2, -1, 1, 2)):
        source = np.arange(n) + shift
        valid = (source >= 0) & (source < n)
        here = np.flatnonzero(valid)
        there = source[valid]
        valid[here] = (city_id[there] == city_id[here]) & (np.abs(ts[there] - ts[here]) <= 2 * step_us[here])
        stack[valid, column] = values[source[valid]]
    count = (~np.isnan(stack)).sum(axis=1)
    ordered = np.sort(stack, axis=1)  # NaN last
    pick = lambda k: ordered[np.arange(n), np.clip(k, 0, 3)]  # noqa: E731
    median = np.where(count % 2 == 1, pick(count // 2), (pick(count // 2 - 1) + pick(count // 2)) / 2)
    return median, count


@dataclass
class Points:
    """Surviving rows sorted by (city, ts, line) and grouped into one point per (city, ts)."""

    rows: np.ndarray  # input row of each sorted row
    group: np.ndarray  # point of each sorted row
    starts: np.ndarray  # first sorted row of each point
    city: np.ndarray  # per point: index into the sorted city names
    ts: np.ndarray
    value: np.ndarray
    shedding: np.ndarray
    step_us: np.ndarray

    def repair(self, v: Verdicts, flags: np.ndarray, name: str) -> None:
        """Name a repair on every input row behind the flagged points."""
        if flags.any():
            v.repair(_mask(len(v), self.rows[flags[self.group]]), name)


def _points(load: pd.DataFrame, city: CityIds, ts_us: np.ndarray, value: np.ndarray, native: dict[str, int],
            v: Verdicts) -> tuple[Points, np.ndarray, np.ndarray]:
    rows = np.flatnonzero(v.pending)
    names = np.array(sorted(str(n) for n in city.names), dtype=object)
    rank = np.searchsorted(names.astype(str), city.names.astype(str)) if len(city.names) else np.zeros(0, int)
    c = rank[city.ids[rows]] if len(rows) else np.zeros(0, dtype=np.int64)
    t = ts_us[rows]
    line = load["line"].to_numpy(dtype=np.int64)[rows]
    in_order = len(rows) < 2 or bool(np.all((np.diff(c) > 0) | ((np.diff(c) == 0) & (np.diff(t) > 0))))
    order = np.arange(len(rows)) if in_order else np.lexsort((line, t, c))
    rows, c, t, line = rows[order], c[order], t[order], line[order]
    first = np.r_[True, (c[1:] != c[:-1]) | (t[1:] != t[:-1])] if len(rows) else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    shedding = load["load_shedding"].to_numpy(dtype=bool) if "load_shedding" in load else np.zeros(len(v), bool)
    steps = np.array([native.get(str(n), 15) for n in names], dtype=np.int64) * MINUTE_US
    points = Points(rows=rows, group=np.cumsum(first) - 1, starts=starts, city=c[starts], ts=t[starts],
                    value=value[rows][starts].copy(),
                    # A point is under load shedding if any of its rows says so.
                    shedding=(np.maximum.reduceat(shedding[rows].astype(np.int8), starts).astype(bool) if len(starts)
                              else np.zeros(0, dtype=bool)),
                    step_us=steps[c[starts]] if len(starts) else np.zeros(0, np.int64))
    return points, names, line


def _merge_duplicates(points: Points, value: np.ndarray, line: np.ndarray, rules: ValidationRules, v: Verdicts) -> None:
    """Close duplicates become their mean; conflicting ones keep the first line's value."""
    starts, group = points.starts, points.group
    size = np.diff(np.append(starts, len(points.rows)))
    if not (size > 1).any():
        return
    x = value[points.rows]
    mean = np.add.reduceat(x, starts) / size
    spread = (np.maximum.reduceat(x, starts) - np.minimum.reduceat(x, starts)) / np.maximum(np.abs(mean), 1e-9)
    merged = (size > 1) & (spread <= rules.duplicate_tolerance)
    conflict = (size > 1) & ~merged
    points.value = np.where(merged, mean, points.value)
    points.repair(v, merged, "duplicate_merged")
    first = np.zeros(len(points.rows), dtype=bool)
    first[starts] = True
    later = conflict[group] & ~first
    if later.any():
        first_line, first_value = line[starts][group], x[starts][group]
        messages = np.full(len(v), None, dtype=object)
        messages[points.rows[later]] = [f"duplicate timestamp conflicts with line {fl} ({xv} vs {fv} MW)"
                                        for fl, xv, fv in zip(first_line[later], x[later], first_value[later])]
        v.reject(_mask(len(v), points.rows[later]), "duplicate_conflict", messages, "timestamp")
        v.repair(_mask(len(v), points.rows[conflict[group] & first]), "duplicate_first_kept")


def _spikes(points: Points, rules: ValidationRules) -> tuple[np.ndarray, np.ndarray]:
    median, count = _median_of_neighbours(points.value, points.city, points.ts, points.step_us)
    deviation = np.abs(points.value - median)
    spike = (count >= 2) & (median > 0) & ~points.shedding & (deviation > rules.spike_threshold * median)
    return spike, median


def _flatlines(points: Points, rules: ValidationRules) -> np.ndarray:
    """Every point after the first of a run of equal consecutive values at least as long as
    ``flatline_min_minutes``."""
    if len(points.value) == 0:
        return np.zeros(0, dtype=bool)
    c, t, x = points.city, points.ts, points.value
    same = np.r_[False, (c[1:] == c[:-1]) & (x[1:] == x[:-1]) & (np.diff(t) == points.step_us[1:])]
    run = np.cumsum(~same) - 1
    min_blocks = np.maximum(2, rules.flatline_min_minutes * MINUTE_US // points.step_us)
    return same & (np.bincount(run)[run] >= min_blocks)


def check_load(load: pd.DataFrame, catalogue: Catalogue, rules: ValidationRules, declared: int | None,
               v: Verdicts, time_range: TimeRange) -> LoadSeries:
    """Judge the load rows into ``v``; return the repaired series (one point per city and ts)."""
    city, ts_us, value = _row_checks(load, catalogue, rules, time_range, v)
    native, target = _grid_checks(city, ts_us, catalogue, rules, declared, v)
    points, names, line = _points(load, city, ts_us, value, native, v)
    _merge_duplicates(points, value, line, rules, v)
    spike, median = _spikes(points, rules)
    flat = _flatlines(points, rules)
    points.repair(v, spike, "spike_clipped")
    points.repair(v, flat, "flatline_flagged")
    n = len(points.ts)
    frame = pd.DataFrame({"city": pd.Categorical.from_codes(points.city, names) if n else np.zeros(0, object),
                          "ts_us": points.ts, "load_mw": np.where(spike, median, points.value),
                          "load_shedding": points.shedding, "outlier": spike | flat,
                          "imputed": np.zeros(n, dtype=bool)})
    return LoadSeries(frame, native, target)
