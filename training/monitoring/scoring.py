"""Rolling error of issued forecasts against the actuals that arrived, per lead band.

Every stored block whose actual is known counts (a block forecast twice, by the daily job
and by a user's request, is two forecasts); its lead is the block start minus the
forecast's issue time. The metrics are those of ``training.metrics`` so that a monitor's
MAPE means what a backtest's does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel

from training.metrics import coverage, mape, within_share
from training.monitoring.config import LeadBand


class BandScore(BaseModel):
    """Forecast error of one city in one lead band over the rolling window."""

    city: str
    lead_band: str
    blocks: int
    forecasts: int
    mape_pct: float | None
    within_5pct: float | None
    bias_pct: float | None
    coverage: float | None


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def scored_blocks(blocks: pd.DataFrame, actuals: pd.DataFrame, exclude_flags: list[str]) -> pd.DataFrame:
    """Forecast blocks joined with their actual load (flagged actuals left out), with ``lead_hours`` per block."""
    usable = actuals
    for flag in exclude_flags:
        if flag in usable:
            usable = usable[~usable[flag].fillna(False).astype(bool)]
    joined = blocks.merge(usable[["ts", "load_mw"]], on="ts", how="inner")
    joined["block_lead_hours"] = (joined["ts"] - joined["as_of"]) / pd.Timedelta(hours=1)
    return joined


def score_bands(city: str, joined: pd.DataFrame, bands: list[LeadBand]) -> list[BandScore]:
    """One score per band that has scored blocks."""
    scores = []
    for band in bands:
        part = joined[(joined["block_lead_hours"] >= band.min_hours) & (joined["block_lead_hours"] < band.max_hours)]
        if part.empty:
            continue
        actual, p50 = part["load_mw"].to_numpy(float), part["p50"].to_numpy(float)
        quantiles = part[["p10", "p50", "p90"]].to_numpy(float)
        mean_actual = float(np.mean(actual))
        bias = 100.0 * float(np.mean(p50 - actual)) / mean_actual if mean_actual else float("nan")
        forecasts = part[["as_of", "model_version", "target_day"]].drop_duplicates().shape[0]
        scores.append(BandScore(city=city, lead_band=band.name, blocks=len(part), forecasts=forecasts,
                                mape_pct=_finite(mape(actual, p50)), within_5pct=_finite(within_share(actual, p50)),
                                bias_pct=_finite(bias), coverage=_finite(coverage(actual, quantiles))))
    return scores
