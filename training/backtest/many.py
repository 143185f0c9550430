"""Backtests of many cities at once, as Ray Data batch inference.

Every (city, day) of every city is one row; an actor pool of ``DayForecaster`` callables
(each loads a version's bundle once and keeps it) forecasts the rows where the cluster has
room, so 100 cities use every node instead of a loop on the driver. The driver then
scores each city exactly as ``run_backtest`` does (``score_backtest``), from the day
forecasts that came back (a few kilobytes per day).
"""

from __future__ import annotations

import pickle  # nosec B403: only our own actors' outputs, inside the cluster, are unpickled
from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd

from data.settings import PlatformSettings
from training.backtest.config import BacktestConfig, load_backtest_config
from training.backtest.report import BacktestReport
from training.backtest.runner import BacktestError, DayForecast, DayForecaster, plan_backtest, read_actuals, score_backtest

#: Rows (city-days) per call of one actor: a bundle call per row, so small batches spread the work.
ROWS_PER_BATCH = 4


class _ForecastRows:
    """Ray Data callable: one ``DayForecast`` per (city, version, origin) row, pickled."""

    def __init__(self, settings: PlatformSettings, lead_ns: int) -> None:
        self.forecaster = DayForecaster(settings)
        self.lead = pd.Timedelta(lead_ns, unit="ns")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for city, version, origin, horizon in zip(batch["city"], batch["version"], batch["origin"], batch["horizon"]):
            stamp = pd.Timestamp(int(origin), unit="ns", tz="UTC")
            out.append(pickle.dumps(self.forecaster.day(str(city), str(version), stamp, int(horizon), self.lead)))
        return {"city": batch["city"], "origin": batch["origin"], "forecast": np.array(out, dtype=object)}


def run_backtests(
    settings: PlatformSettings,
    cities: list[str],
    start: date,
    end: date,
    version: str | None = None,
    *,
    config: BacktestConfig | None = None,
    lead: pd.Timedelta = pd.Timedelta(0),
    on_city: Callable[[BacktestReport], None] | None = None,
) -> list[BacktestReport]:
    """``run_backtest`` for every city in ``cities``, their days forecast as one Ray Data job."""
    import ray
    import ray.data

    if not ray.is_initialized():
        raise BacktestError("a many-city backtest runs on Ray: start or join it first (efp backtest does)")
    config = config or load_backtest_config()
    lead = pd.Timedelta(lead)
    plans = [plan_backtest(settings, city, start, end, version) for city in dict.fromkeys(c.upper() for c in cities)]
    actuals = {plan.city: read_actuals(settings, plan, config, start, end) for plan in plans}
    rows = [{"city": p.city, "version": p.version, "origin": int(o.value), "horizon": p.horizon} for p in plans for o in p.origins]
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    actors = max(1, min(len(plans), int(cpus / config.ray_task_cpus)))
    days = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), actors * 4)))
    forecast = days.map_batches(
        _ForecastRows, batch_size=ROWS_PER_BATCH, batch_format="numpy", num_cpus=config.ray_task_cpus,
        concurrency=(1, actors), fn_constructor_kwargs={"settings": settings, "lead_ns": int(lead.value)},
    )
    by_city: dict[str, dict[int, DayForecast]] = {p.city: {} for p in plans}
    for row in forecast.iter_rows():
        by_city[str(row["city"])][int(row["origin"])] = pickle.loads(row["forecast"])  # nosec B301: our actors' output
    reports = []
    for plan in plans:
        days_of_city = [by_city[plan.city][int(o.value)] for o in plan.origins]
        report = score_backtest(plan, start, end, actuals[plan.city], days_of_city, config, lead)
        reports.append(report)
        if on_city:
            on_city(report)
    return reports
