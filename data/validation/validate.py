"""``validate``: a source batch in, what to store and what to quarantine out.

Counting is over input lines (a CSV row with load and weather is one line): a line is
rejected when its load is; repaired when its load or weather needed a repair (or its
weather alone was refused); accepted otherwise. So ``input_rows == accepted + repaired +
rejected`` holds whatever the source looked like.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from data.catalogue import Catalogue
from data.records import SourceBatch, ValidationOutcome
from data.settings import IngestSettings
from data.transform.frames import conform_load, empty_load, empty_weather, us_from_ts, utc_from_us
from data.transform.series import fill_gaps, resample_mean
from data.validation.load_checks import check_load
from data.validation.rules import ValidationRules, load_rules
from data.validation.supply_checks import check_supply
from data.validation.time_range import TimeRange
from data.validation.verdicts import ACCEPTED, REJECTED, REPAIRED, Verdicts
from data.validation.weather_checks import check_weather

QUARANTINE_COLUMNS = ("line", "city", "ts", "field", "reason", "raw")


def _raw(frame: pd.DataFrame, index: np.ndarray) -> list[str]:
    if "raw" in frame:
        return frame["raw"].iloc[index].astype(object).tolist()
    shown = [c for c in frame.columns if c not in ("line", "error", "error_field")]
    return [",".join("" if pd.isna(v) else str(v) for v in row) for row in frame.iloc[index][shown].itertuples(False)]


def _quarantine(frame: pd.DataFrame, v: Verdicts, index: np.ndarray, city_column: str) -> pd.DataFrame:
    lines = frame["line"].to_numpy(dtype=np.int64)[index]
    fields = v.field[index]
    ts = utc_from_us(us_from_ts(frame["ts"])[index]) if "ts" in frame else None
    return pd.DataFrame({
        "line": lines,
        "city": frame[city_column].iloc[index].astype(object).to_numpy() if city_column in frame else None,
        "ts": ts if ts is not None else pd.Series(pd.NaT, index=range(len(index)), dtype="datetime64[us, UTC]"),
        "field": fields,
        "reason": [f"line {line}, column '{field}': {message}" for line, field, message in
                   zip(lines, fields, v.message[index])],
        "raw": _raw(frame, index),
        "code": v.code[index],
    })


def _load_outcome(batch: SourceBatch, catalogue: Catalogue, rules: ValidationRules, time_range: TimeRange,
                  v: Verdicts):
    series = check_load(batch.load, catalogue, rules, batch.resolution_minutes, v, time_range)
    frame = resample_mean(series.frame, series.target)
    frame, created = fill_gaps(frame, series.target, rules.max_gap_fill_minutes)
    return conform_load(frame), series.target, created


def _line_statuses(load_v: Verdicts, weather_v: Verdicts, position: np.ndarray):
    """Load lines take their weather record's repairs (a refused weather record is itself a
    repair of the line); weather records on no load line count as lines of their own."""
    status = load_v.status.copy()
    repairs = {name: flags.copy() for name, flags in load_v.repairs.items()}
    on_load = position >= 0
    if on_load.any():
        target = position[on_load]
        alive = status[target] != REJECTED
        status[target[alive & (weather_v.status[on_load] != ACCEPTED)]] = REPAIRED
        for name, flags in weather_v.repairs.items():
            repairs.setdefault(name, np.zeros(len(status), dtype=bool))[target[alive & flags[on_load]]] = True
        refused = alive & (weather_v.status[on_load] == REJECTED)
        if refused.any():
            repairs.setdefault("weather_rejected", np.zeros(len(status), dtype=bool))[target[refused]] = True
    weather_only = ~on_load
    counts = Counter({name: int(flags.sum()) for name, flags in repairs.items()})
    for name, flags in weather_v.repairs.items():
        counts[name] += int((flags & weather_only).sum())
    return status, weather_only, counts


def _empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame({
        "line": pd.Series([], dtype=np.int64), "city": pd.Series([], dtype=object),
        "ts": pd.Series([], dtype="datetime64[us, UTC]"), "field": pd.Series([], dtype=object),
        "reason": pd.Series([], dtype=object), "raw": pd.Series([], dtype=object), "code": pd.Series([], dtype=object),
    })


def validate(batch: SourceBatch, catalogue: Catalogue, rules: ValidationRules | None = None,
             time_range: TimeRange | None = None) -> ValidationOutcome:
    """Judge every input row of ``batch``; return clean frames, quarantine and counts.

    ``time_range``: the timestamps accepted; by default the ``ingest`` settings' defaults
    around now (the pipeline passes the configured ones)."""
    rules = rules or load_rules()
    time_range = time_range or TimeRange.from_settings(IngestSettings())
    has_load, has_weather = len(batch.load) > 0, len(batch.weather) > 0
    has_supply = batch.supply is not None and len(batch.supply) > 0
    load_v = Verdicts(len(batch.load) if has_load else 0)
    weather_v = Verdicts(len(batch.weather) if has_weather else 0)
    supply_v = Verdicts(len(batch.supply) if has_supply else 0)
    load, resolutions, created = (_load_outcome(batch, catalogue, rules, time_range, load_v) if has_load else (empty_load(), {}, 0))
    position = np.full(len(weather_v), -1, dtype=np.int64)
    if has_load and has_weather:
        position = pd.Index(batch.load["line"].to_numpy()).get_indexer(batch.weather["line"].to_numpy())
        on_rejected = position >= 0
        on_rejected[on_rejected] = load_v.status[position[on_rejected]] == REJECTED
        weather_v.reject(on_rejected, "row_rejected", "the row's load was rejected", "load_mw")
    weather = check_weather(batch.weather, catalogue, weather_v, time_range) if has_weather else empty_weather()
    supply = check_supply(batch.supply, supply_v, time_range) if has_supply else None

    status, weather_only, repair_counts = _line_statuses(load_v, weather_v, position)
    for name, flags in supply_v.repairs.items():
        repair_counts[name] += int(flags.sum())
    repair_counts["gap_interpolated"] += created
    statuses = [status, weather_v.status[weather_only], supply_v.status]
    counts = {label: int(sum((s == code).sum() for s in statuses))
              for label, code in (("accepted", ACCEPTED), ("repaired", REPAIRED), ("rejected", REJECTED))}

    parts = [_empty_quarantine()]
    if has_load:
        parts.append(_quarantine(batch.load, load_v, np.flatnonzero(load_v.status == REJECTED), "city"))
    if has_weather:
        parts.append(_quarantine(batch.weather, weather_v,
                                 np.flatnonzero(weather_only & (weather_v.status == REJECTED)), "city"))
    if has_supply:
        parts.append(_quarantine(batch.supply, supply_v, np.flatnonzero(supply_v.status == REJECTED), "region"))
    quarantine = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    rejections = Counter(quarantine["code"].astype(str))
    quarantine = quarantine.drop(columns="code").sort_values("line", kind="stable").reset_index(drop=True)
    quarantine["ts"] = quarantine["ts"].astype("datetime64[us, UTC]")
    return ValidationOutcome(
        load=load, weather=weather, quarantine=quarantine, resolution_minutes=resolutions,
        input_rows=len(status) + int(weather_only.sum()) + len(supply_v),
        repairs={name: n for name, n in repair_counts.items() if n}, rejections=dict(rejections), supply=supply,
        **counts,
    )
