"""Rules for load rows: identity, values, grid, duplicates, spikes and flatlines.

Rows are judged one by one first (city, timestamp, value); then the surviving rows
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


def _row_checks(load: pd.DataFrame, catalogue: Catalogue, rules: ValidationRules, v: Verdicts):
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


def check_load(load: pd.DataFrame, catalogue: Catalogue, rules: ValidationRules, declared: int | None,
               v: Verdicts) -> LoadSeries:
    city, ts_us, value = _row_checks(load, catalogue, rules, v)
    native, target = _grid_checks(city, ts_us, catalogue, rules, declared, v)
    rows = np.flatnonzero(v.pending)
    city_names = np.array(sorted(str(n) for n in city.names), dtype=object)
    rank = np.searchsorted(city_names.astype(str), city.names.astype(str)) if len(city.names) else np.zeros(0, int)
    city_id = rank[city.ids[rows]] if len(rows) else np.zeros(0, dtype=np.int64)
    line = load["line"].to_numpy(dtype=np.int64)[rows]
    t = ts_us[rows]
    in_order = len(rows) < 2 or bool(np.all((np.diff(city_id) > 0) | ((np.diff(city_id) == 0) & (np.diff(t) > 0))))
    order = np.arange(len(rows)) if in_order else np.lexsort((line, t, city_id))
    s = rows[order]
    c, t, x, line = city_id[order], t[order], value[s], line[order]
    shedding = load["load_shedding"].to_numpy(dtype=bool)[s] if "load_shedding" in load else np.zeros(len(s), bool)
    first = np.r_[True, (c[1:] != c[:-1]) | (t[1:] != t[:-1])] if len(s) else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    size = np.diff(np.append(starts, len(s)))
    point = x[starts].copy()
    point_shedding = shedding[starts].copy()
    if (size > 1).any():
        total = np.add.reduceat(x, starts)
        low, high = np.minimum.reduceat(x, starts), np.maximum.reduceat(x, starts)
        mean = total / size
        spread = (high - low) / np.maximum(np.abs(mean), 1e-9)
        merged = (size > 1) & (spread <= rules.duplicate_tolerance)
        conflict = (size > 1) & ~merged
        point = np.where(merged, mean, point)
        point_shedding = np.maximum.reduceat(shedding.astype(np.int8), starts).astype(bool)
        in_merged = merged[group]
        v.repair(_mask(len(v), s[in_merged]), "duplicate_merged")
        later = conflict[group] & ~first
        if later.any():
            first_line, first_value = line[starts][group], x[starts][group]
            mask = _mask(len(v), s[later])
            messages = np.full(len(v), None, dtype=object)
            messages[s[later]] = [f"duplicate timestamp conflicts with line {fl} ({xv} vs {fv} MW)"
                                  for fl, xv, fv in zip(first_line[later], x[later], first_value[later])]
            v.reject(mask, "duplicate_conflict", messages, "timestamp")
            v.repair(_mask(len(v), s[conflict[group] & first]), "duplicate_first_kept")
    pc, pt = c[starts], t[starts]
    step_us = np.array([native.get(str(name), 15) for name in city_names], dtype=np.int64)[pc] * MINUTE_US if len(pc) else pc
    median, count = _median_of_neighbours(point, pc, pt, step_us)
    spike = (count >= 2) & (median > 0) & ~point_shedding & (np.abs(point - median) > rules.spike_threshold * median)
    min_blocks = np.array([max(2, rules.flatline_min_minutes // native.get(str(n), 15)) for n in city_names], dtype=np.int64)
    same = np.r_[False, (pc[1:] == pc[:-1]) & (point[1:] == point[:-1]) & (np.diff(pt) == step_us[1:])] \
        if len(pc) else np.zeros(0, bool)
    run = np.cumsum(~same) - 1
    run_length = np.bincount(run) if len(run) else np.zeros(0, np.int64)
    flat = same & (run_length[run] >= min_blocks[pc]) if len(pc) else same
    for name, flags in (("spike_clipped", spike), ("flatline_flagged", flat)):
        if flags.any():
            v.repair(_mask(len(v), s[flags[group]]), name)
    point = np.where(spike, median, point)
    frame = pd.DataFrame({"city": pd.Categorical.from_codes(pc, city_names) if len(pc) else np.zeros(0, object),
                          "ts_us": pt, "load_mw": point, "load_shedding": point_shedding,
                          "outlier": spike | flat, "imputed": np.zeros(len(pc), dtype=bool)})
    return LoadSeries(frame, native, target)
