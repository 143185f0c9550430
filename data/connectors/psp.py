"""Grid-India (POSOCO/NLDC) daily Power Supply Position: the "Power supply position in
States" rows, as CSV exported from the daily report.

Columns (matched loosely, as the report's headings vary): ``Region``, ``State``,
``Max.Demand Met during the day (MW)``, ``Energy Met (MU)``, ``Energy Shortage (MU)``
(or ``Shortage (MU)``), and ``Date`` (else the ``date`` option or the file name). The
state becomes ``region`` = its ``holidays`` subdivision code, so supply rows join the
catalogue's cities by state.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path

import holidays
import numpy as np
import pandas as pd

from data.connectors.files import date_in_text, normalise, read_text, split_csv
from data.connectors.parsing import RowErrors, parse_numbers, refuse_if_unusable
from data.errors import InputFileError
from data.records import SourceBatch

#: Report spellings that the holidays library does not list as aliases.
EXTRA_STATE_NAMES = {
    "orissa": "OD", "pondicherry": "PY", "uttaranchal": "UK", "j_and_k_ut_and_ladakh_ut": "JK",
    "jammu_and_kashmir": "JK", "dnhddpdcl": "DH", "dnh_and_dd": "DH", "chattisgarh": "CG", "nct_of_delhi": "DL",
}


def _plain(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return normalise(ascii_name)


def state_codes() -> dict[str, str]:
    """Normalised state name -> holidays subdivision code (India)."""
    codes = {_plain(name): code for name, code in holidays.India.subdivisions_aliases.items()}
    codes.update({code.lower(): code for code in holidays.India.subdivisions})
    codes.update(EXTRA_STATE_NAMES)
    return codes


def _find(columns: dict[str, int], *needles: str) -> int | None:
    for name, index in columns.items():
        if all(needle in name for needle in needles):
            return index
    return None


def read_psp(path: str | Path, *, date: dt.date | str | None = None, **_: object) -> SourceBatch:
    """State rows of the daily PSP report as a ``supply`` frame."""
    path = str(path)
    text = read_text(path)
    parsed = split_csv(path, text, header_test=lambda fields: "state" in {normalise(f) for f in fields})
    columns = {normalise(name): i for i, name in enumerate(parsed.header)}
    wanted = {
        "state": _find(columns, "state"),
        "max_demand_met_mw": _find(columns, "max", "demand", "met"),
        "energy_met_mu": _find(columns, "energy", "met"),
        "shortage_mu": _find(columns, "energy", "shortage") if _find(columns, "energy", "shortage") is not None
        else _find(columns, "shortage", "mu"),
    }
    labels = {"state": "State", "max_demand_met_mw": "Max.Demand Met during the day (MW)",
              "energy_met_mu": "Energy Met (MU)", "shortage_mu": "Energy Shortage (MU)"}
    for key, index in wanted.items():
        if index is None:
            raise InputFileError(path, f"missing required column '{labels[key]}'", line=parsed.header_line,
                                 column=labels[key])
    width = len(parsed.header)
    table = pd.DataFrame([r[:width] + [""] * (width - len(r)) for r in parsed.rows], dtype="string")
    errors = RowErrors(len(table))
    date_column = _find(columns, "date")
    if date_column is not None:
        day_text = table[date_column].str.strip()
        days = pd.to_datetime(day_text, format="mixed", dayfirst=True, errors="coerce")
        errors.add(days.isna().to_numpy(), "unparseable date '" + day_text.fillna("") + "'", parsed.header[date_column])
    else:
        found = str(date) if date is not None else date_in_text(Path(path).name)
        if found is None:
            raise InputFileError(path, "no date: add a Date column or pass a date", column="Date")
        days = pd.Series(pd.Timestamp(found), index=table.index)
    names = table[wanted["state"]].str.strip()
    known = state_codes()
    region = names.map(lambda n: known.get(_plain(n)) if isinstance(n, str) else None)
    errors.add(region.isna().to_numpy(), "unknown state '" + names.fillna("") + "'", parsed.header[wanted["state"]])
    supply = pd.DataFrame({"line": np.asarray(parsed.lines, dtype=np.int64), "region": region.astype("string"),
                           "date": days.dt.date})
    for key in ("max_demand_met_mw", "energy_met_mu", "shortage_mu"):
        supply[key] = parse_numbers(table[wanted[key]], parsed.header[wanted[key]], errors, required=key != "shortage_mu")
    supply["raw"] = pd.Series(parsed.raw, dtype="string")
    refuse_if_unusable(errors.attach(supply), path)
    return SourceBatch(source="psp", path=path, load=pd.DataFrame(), weather=pd.DataFrame(), supply=supply)
