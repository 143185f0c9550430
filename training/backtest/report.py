"""The backtest result: a pydantic report whose JSON shape is documented in docs/backtest.md."""

from __future__ import annotations

import math
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from training.metrics import METRIC_NAMES

#: Row order of tables: the ensemble, its members, then the two baselines.
BASELINES = ("seasonal_naive_day", "seasonal_naive_week")


class BacktestSeries(BaseModel):
    """What the plot needs; kept out of the JSON (it would dwarf the metrics)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    timestamps: pd.DatetimeIndex  # UTC interval starts
    timezone: str  # the city's, for axis labels
    actual: np.ndarray
    ensemble: np.ndarray  # (n, 3)


class BacktestReport(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    city: str
    version: str
    start: date = Field(description="First forecast day (local), inclusive.")
    end: date = Field(description="Last forecast day (local), inclusive.")
    days: int = Field(description="Forecasts issued (one per day, ``lead`` before its 00:00 local).")
    lead: str = Field("0h", description="How long before each day's local midnight its forecast was issued, e.g. '14h'.")
    weather: Literal["observed", "forecast"] = Field(description="Weather the forecasts were given.")
    resolution_minutes: int
    metrics: dict[str, dict[str, float | None]] = Field(description="{ensemble|member|baseline: {metric: value}}.")
    series: BacktestSeries | None = Field(None, exclude=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def table_rows(self) -> list[dict[str, Any]]:
        return [{"model": name, **{m: values.get(m) for m in METRIC_NAMES}} for name, values in self.metrics.items()]


def clean_metrics(values: dict[str, float]) -> dict[str, float | None]:
    """NaN is not JSON: a metric that cannot be computed is reported as null."""
    return {name: (None if value is None or math.isnan(value) else float(value)) for name, value in values.items()}


def format_lead(lead: pd.Timedelta) -> str:
    """'14h', '0h', '90m': the lead as the CLI takes it."""
    minutes = int(lead / pd.Timedelta(minutes=1))
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"
