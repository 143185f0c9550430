"""Delhi SLDC 5-minute load table (delhisldc.org "Load data"): the DELHI column is the city.

Shape: an optional preamble (a title line with the date, e.g. ``Date: 01/05/2024``), a
header ``TIMESLOT,DELHI,BRPL,BYPL,NDPL|TPDDL,NDMC,MES`` (an optional ``DATE`` column for
multi-day files), then one row per 5-minute slot (``00:00`` .. ``23:55``) in MW. The
discom columns are checked for presence but only the city total becomes load; the
5-minute values are averaged to 15-minute blocks in transformation.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from data.catalogue import Catalogue
from data.connectors.files import date_in_text, normalise, read_text, split_csv
from data.connectors.parsing import RowErrors, localize_by_city, parse_numbers, refuse_if_unusable
from data.errors import InputFileError
from data.records import SourceBatch

DISCOMS = ("brpl", "bypl", "ndmc", "mes")
NORTH_DISCOM = ("ndpl", "tpddl")
DEFAULT_TIMEZONE = "Asia/Kolkata"


def _is_header(fields: list[str]) -> bool:
    return "timeslot" in {normalise(f) for f in fields}


def read_sldc(
    path: str | Path,
    *,
    city: str | None = "DEL",
    date: dt.date | str | None = None,
    catalogue: Catalogue | None = None,
    **_: object,
) -> SourceBatch:
    """Load rows of the SLDC table; the date comes from a DATE column, ``date``, the
    preamble or the file name, in that order."""
    path = str(path)
    text = read_text(path)
    parsed = split_csv(path, text, header_test=_is_header)
    columns = {normalise(name): i for i, name in enumerate(parsed.header)}
    expected = ("timeslot", "delhi", *DISCOMS)
    for name in expected:
        if name not in columns:
            raise InputFileError(path, f"missing required column '{name.upper()}'", line=parsed.header_line,
                                 column=name.upper())
    if not any(name in columns for name in NORTH_DISCOM):
        raise InputFileError(path, "missing required column 'NDPL' or 'TPDDL'", line=parsed.header_line, column="TPDDL")
    width = len(parsed.header)
    table = pd.DataFrame([r[:width] + [""] * (width - len(r)) for r in parsed.rows], dtype="string")
    errors = RowErrors(len(table))
    if "date" in columns:
        day_text = table[columns["date"]].str.strip()
        days = pd.to_datetime(day_text, format="mixed", dayfirst=True, errors="coerce")
        errors.add(days.isna().to_numpy(), "unparseable date '" + day_text.fillna("") + "'", "DATE")
    else:
        found = str(date) if date is not None else None
        found = found or date_in_text("\n".join(text.splitlines()[: parsed.header_line - 1])) or date_in_text(Path(path).name)
        if found is None:
            raise InputFileError(path, "no date: add a DATE column, a 'Date: DD/MM/YYYY' title line or pass a date",
                                 column="DATE")
        days = pd.Series(pd.Timestamp(found), index=table.index)
    slot_text = table[columns["timeslot"]].str.strip()
    slot = pd.to_timedelta(slot_text + ":00", errors="coerce")
    bad_slot = slot.isna().to_numpy() | (slot >= pd.Timedelta(days=1)).fillna(True).to_numpy()
    errors.add(bad_slot, "unparseable TIMESLOT '" + slot_text.fillna("") + "'", "TIMESLOT")
    naive = (days.dt.normalize() + slot).astype("datetime64[us]")
    code = (city or "DEL").upper()
    cities = pd.Series([code] * len(table), dtype="string")
    timezone = catalogue.get(code).timezone if catalogue is not None and code in catalogue else DEFAULT_TIMEZONE
    ts = localize_by_city(naive, cities, None, timezone, path)
    load_mw = parse_numbers(table[columns["delhi"]], "DELHI", errors, required=True)
    load = pd.DataFrame({"line": np.asarray(parsed.lines, dtype=np.int64), "city": cities, "ts": ts,
                         "load_mw": load_mw, "load_shedding": np.zeros(len(table), dtype=bool),
                         "raw": pd.Series(parsed.raw, dtype="string")})
    refuse_if_unusable(errors.attach(load), path)
    return SourceBatch(source="sldc", path=path, load=load, weather=pd.DataFrame(), resolution_minutes=5,
                       notes=["SLDC 5-minute table: DELHI column as city load"])
