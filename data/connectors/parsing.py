"""Vectorised parsing of text columns into values, recording per-row errors.

A row whose value cannot be parsed is not dropped here: it keeps NaN/NaT and an
``error``/``error_field`` entry, and validation sends it to quarantine with its line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.catalogue import Catalogue
from data.errors import InputFileError

OFFSET_SUFFIX = r"(?:Z|[+-]\d{2}:?\d{2})$"


class RowErrors:
    """First error per row wins: (reason, field) kept as two string columns."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, None, dtype=object)
        self.field = np.full(n, None, dtype=object)

    def add(self, mask: np.ndarray, reasons: pd.Series | str, field: str) -> None:
        mask = np.asarray(mask, dtype=bool) & (self.reason == None)  # noqa: E711 (elementwise)
        if not mask.any():
            return
        values = reasons if isinstance(reasons, str) else np.asarray(reasons, dtype=object)[mask]
        self.reason[mask] = values
        self.field[mask] = field

    def attach(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["error"] = pd.array(self.reason, dtype="string")
        frame["error_field"] = pd.array(self.field, dtype="string")
        return frame


def parse_numbers(text: pd.Series, field: str, errors: RowErrors, *, required: bool) -> np.ndarray:
    """Floats from text; blank is missing (an error only if ``required``), junk is an error."""
    stripped = text.astype("string").str.strip()
    values = pd.to_numeric(stripped.where(stripped != ""), errors="coerce").astype(float).to_numpy()
    blank = (stripped.isna() | (stripped == "")).to_numpy()
    bad = np.isnan(values) & ~blank
    errors.add(bad, "unparseable number '" + stripped.fillna("") + "'", field)
    if required:
        errors.add(blank, f"missing {field}", field)
    return values


def localize_by_city(
    naive: pd.Series, cities: pd.Series, catalogue: Catalogue | None, default_timezone: str | None, path: str
) -> pd.Series:
    """Naive local times to UTC in each row's city timezone (or ``default_timezone``)."""
    out = pd.Series(pd.NaT, index=naive.index, dtype="datetime64[us, UTC]")
    if default_timezone is not None:
        groups = {default_timezone: np.ones(len(naive), dtype=bool)}
    else:
        groups = {}
        for code in pd.unique(cities.dropna()):
            if catalogue is None:
                raise InputFileError(path, "timestamps without offset need the city catalogue or a default timezone")
            if code in catalogue:
                tz = catalogue.get(code).timezone
                groups.setdefault(tz, np.zeros(len(naive), dtype=bool))
                groups[tz] |= (cities == code).fillna(False).to_numpy()
    for tz, mask in groups.items():
        local = naive[mask].dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        out[mask] = local.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return out


def parse_timestamps(
    text: pd.Series,
    field: str,
    cities: pd.Series,
    errors: RowErrors,
    *,
    catalogue: Catalogue | None,
    default_timezone: str | None,
    path: str,
) -> pd.Series:
    """ISO 8601 text to UTC; text without an offset is local time of the row's city."""
    stripped = text.astype("string").str.strip()
    has_offset = stripped.str.contains(OFFSET_SUFFIX, regex=True).fillna(False).to_numpy()
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
    if has_offset.any():
        parsed = pd.to_datetime(stripped[has_offset], format="ISO8601", utc=True, errors="coerce")
        out[has_offset] = parsed.astype("datetime64[us, UTC]")
    naive_mask = ~has_offset
    if naive_mask.any():
        naive = pd.to_datetime(stripped[naive_mask], format="ISO8601", errors="coerce")
        if isinstance(naive.dtype, pd.DatetimeTZDtype):  # pragma: no cover - guarded by has_offset
            naive = naive.dt.tz_localize(None)
        parsed_naive = naive.notna().to_numpy()
        local = localize_by_city(naive.astype("datetime64[us]"), cities[naive_mask], catalogue, default_timezone, path)
        out[naive_mask] = local
        unknown_zone = parsed_naive & local.isna().to_numpy()
        mask = np.zeros(len(text), dtype=bool)
        mask[np.flatnonzero(naive_mask)[unknown_zone]] = True
        # Rows of an unknown city are rejected for the city; others here fell in a DST gap/overlap.
        known = cities.isin(catalogue.codes if catalogue else []).to_numpy() | (default_timezone is not None)
        errors.add(mask & known, "local time that does not exist or is ambiguous (DST) '" + stripped.fillna("") + "'",
                   field)
    blank = (stripped.isna() | (stripped == "")).to_numpy()
    errors.add(blank, "missing timestamp", field)
    failed = out.isna().to_numpy() & ~blank
    known = cities.isin(catalogue.codes if catalogue else []).to_numpy() | (default_timezone is not None) | has_offset
    errors.add(failed & known, "unparseable timestamp '" + stripped.fillna("") + "'", field)
    return out


def refuse_if_unusable(frame: pd.DataFrame, path: str) -> pd.DataFrame:
    """A file in which no row can be used is a bad file, not a quarantine of every row."""
    if len(frame) and "error" in frame and frame["error"].notna().all():
        first = frame.iloc[0]
        raise InputFileError(path, f"no usable row ({first['error']})", line=int(first["line"]),
                             column=str(first["error_field"]))
    return frame
