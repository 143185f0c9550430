"""Late data: the accuracy of a day-ahead forecast when the last day (or two) of load has not
arrived, with the horizon's weather supplied (as a request would) and without it.

Each hold-out day is forecast from its own local midnight with the load known only up to
``lead`` before it (24 h: the day before is missing; 48 h: two days), from the same
``ModelBundle.forecast`` path serving uses. "with weather" gives the horizon's observed
weather, as a request carrying it would; "no weather" gives none, so the preprocessor
fills the horizon from climatology, as a request with no stored forecast gets. The P50 is
scored against the stored actuals (the generator's values for synthetic cities).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from data.durations import parse_duration_minutes
from data.settings import PlatformSettings
from data.stores import open_store
from training.backtest.runner import plan_backtest
from training.bundle import load_bundle
from training.inputs import build_forecast_input
from training.metrics import mape, within_share
from training.registry import open_registry

#: Late-data P50 MAPE target (percent), each lead and weather mode (issue 8: "within 5-6 %").
LATE_MAPE_TARGET = 6.0
WEATHER_MODES = ("with weather", "no weather")


def _without_horizon_weather(weather: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    return weather[pd.to_datetime(weather["ts"], utc=True) < start].reset_index(drop=True)


def late_data(settings: PlatformSettings, cities: list[str], first: dt.date, last: dt.date, version: str,
              leads: tuple[str, ...], log: Callable[[str], None] = print) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Rows {lead, weather, city, mape, within_5pct} (cities and their mean) and one check per lead and weather mode."""
    store = open_store(settings)
    bundle = load_bundle(open_registry(settings).fetch(version))
    rows: list[dict[str, Any]] = []
    checks: dict[str, dict[str, Any]] = {}
    for lead in leads:
        gap = pd.Timedelta(minutes=parse_duration_minutes(lead) or 0)
        per_mode: dict[str, list[float]] = {mode: [] for mode in WEATHER_MODES}
        for code in cities:
            plan = plan_backtest(settings, code, first, last, version)
            actual_all = store.read_load(code).set_index("ts")["load_mw"].astype(float)
            truth, forecasts = [], {mode: [] for mode in WEATHER_MODES}
            for origin in plan.origins:
                steps = pd.date_range(origin, periods=plan.horizon, freq=f"{plan.resolution_minutes}min")
                truth.append(actual_all.reindex(steps).to_numpy())
                supplied = build_forecast_input(settings, code, origin, plan.horizon, bundle_or_preprocessor=bundle,
                                                store=store, as_of=origin - gap)
                inputs = {"with weather": supplied,
                          "no weather": replace(supplied, weather=_without_horizon_weather(supplied.weather, origin))}
                for mode, inp in inputs.items():
                    forecasts[mode].append(np.asarray(bundle.forecast(inp).quantiles)[:, 1])
            actual = np.concatenate(truth)
            for mode in WEATHER_MODES:
                p50 = np.concatenate(forecasts[mode])
                row = {"lead": lead, "weather": mode, "city": code, "mape": mape(actual, p50),
                       "within_5pct": within_share(actual, p50)}
                rows.append(row)
                per_mode[mode].append(row["mape"])
                log(f"late data {code} at lead {lead}, {mode}: P50 MAPE {row['mape']:.2f} %")
        for mode, values in per_mode.items():
            mean = float(np.mean(values))
            rows.append({"lead": lead, "weather": mode, "city": "mean", "mape": mean,
                         "within_5pct": float(np.mean([r["within_5pct"] for r in rows
                                                       if r["lead"] == lead and r["weather"] == mode and r["city"] != "mean"]))})
            checks[f"late_data_mape at lead {lead}, {mode}"] = {"value": mean, "target": f"<= {LATE_MAPE_TARGET}",
                                                                "met": mean <= LATE_MAPE_TARGET}
    return rows, checks
