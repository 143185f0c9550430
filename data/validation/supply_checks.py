"""Rules for Grid-India daily supply rows: known state, non-negative figures, one per day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.transform.frames import us_from_ts
from data.validation.time_range import TimeRange
from data.validation.verdicts import Verdicts

SUPPLY_COLUMNS = ("region", "date", "max_demand_met_mw", "energy_met_mu", "shortage_mu")
FIGURES = SUPPLY_COLUMNS[2:]


def check_supply(supply: pd.DataFrame, v: Verdicts, time_range: TimeRange) -> pd.DataFrame:
    if "error" in supply:
        v.reject(supply["error"].notna().to_numpy(), None, supply["error"].astype(object).to_numpy(),
                 supply["error_field"].astype(object).fillna("row").to_numpy())
    v.reject(supply["region"].isna().to_numpy(), "missing_region", "missing state", "state")
    v.reject(supply["date"].isna().to_numpy(), "missing_date", "missing date", "date")
    time_range.reject_outside(us_from_ts(pd.Series(pd.to_datetime(supply["date"], errors="coerce"))), v, "date")
    for name in FIGURES:
        figure = supply[name].to_numpy(dtype=np.float64)
        v.reject(figure < 0, "negative_value", lambda index, f=figure, n=name: [f"negative {n} {f[i]}" for i in index],
                 name)
    frame = supply.loc[v.pending, list(SUPPLY_COLUMNS)].reset_index(drop=True)
    later = frame.duplicated(["region", "date"], keep="last").to_numpy()
    if later.any():
        kept = np.flatnonzero(v.pending)
        v.repair(np.isin(np.arange(len(v)), kept[frame.duplicated(["region", "date"], keep=False).to_numpy()]),
                 "duplicate_last_kept")
        frame = frame[~later].reset_index(drop=True)
    frame["region"] = frame["region"].astype(str)
    return frame.sort_values(["region", "date"]).reset_index(drop=True)
