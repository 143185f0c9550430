"""Rolling-origin backtest (docs/contracts.md, "Metrics everyone reports").

One forecast per local day, issued at 00:00 in the city's timezone for the 24 hours that
follow (horizon = one day of steps at the series' resolution), from the same
``ModelBundle.forecast`` path serving uses. The ensemble, each member and both
seasonal-naive baselines (same block one day / one week earlier) are scored on exactly
the same steps. Flagged actuals (``exclude_flags``) are left out: a shed or imputed block
is not demand. Long backtests fan their days out as Ray tasks when the caller (an
entrypoint) has started Ray; library code never starts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from data.catalogue import load_catalogue
from data.errors import PlatformError
from data.settings import PlatformSettings
from data.stores import open_store
from training.backtest.config import BacktestConfig, load_backtest_config
from training.backtest.report import BacktestReport, BacktestSeries, clean_metrics, format_lead
from training.baselines import seasonal_naive
from training.metrics import evaluate, season_steps
from training.registry import open_registry

Forecasts = dict[str, np.ndarray]  # model name -> (horizon, 3)


@dataclass(frozen=True)
class DayForecast:
    forecasts: Forecasts  # "ensemble" and each member that answered
    weather_forecast: bool  # the horizon weather came from stored forecasts (else observed)
DayCallback = Callable[[int, int], None]


class BacktestError(PlatformError):
    exit_code = 2


def issue_times(start: date, end: date, timezone: str) -> list[pd.Timestamp]:
    """00:00 local of every day from ``start`` to ``end`` inclusive, in UTC."""
    if end < start:
        raise BacktestError(f"backtest end {end} is before start {start}")
    days = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D")
    local = days.tz_localize(timezone, nonexistent="shift_forward", ambiguous=False)
    return list(local.tz_convert("UTC"))


class DayForecaster:
    """Forecasts single days from the registry's bundles, loading each version once: the
    unit a Ray task (``forecast_days``) or a Ray Data actor (``training.backtest.many``) reuses."""

    def __init__(self, settings: PlatformSettings) -> None:
        self.settings = settings
        self.store = open_store(settings)
        self.bundles: dict[str, object] = {}

    def bundle(self, version: str):
        from training.bundle import load_bundle

        if version not in self.bundles:
            self.bundles[version] = load_bundle(open_registry(self.settings).fetch(version))
        return self.bundles[version]

    def day(self, city: str, version: str, origin: pd.Timestamp, horizon: int, lead: pd.Timedelta) -> DayForecast:
        from training.inputs import NOTE_FORECAST, build_forecast_input

        bundle = self.bundle(version)
        inp = build_forecast_input(self.settings, city, origin, horizon, bundle_or_preprocessor=bundle, store=self.store,
                                   as_of=origin - lead)
        result = bundle.forecast(inp)
        members = {k: np.asarray(v) for k, v in result.member_forecasts.items()}
        return DayForecast({"ensemble": np.asarray(result.quantiles), **members}, NOTE_FORECAST in inp.notes)


def forecast_days(
    settings: PlatformSettings,
    city: str,
    version: str,
    origins: list[pd.Timestamp],
    horizon: int,
    on_day: DayCallback | None = None,
    lead: pd.Timedelta = pd.Timedelta(0),
) -> list[DayForecast]:
    """Forecasts of the bundle for each origin, each issued ``lead`` before it; runs in process or as one Ray task per chunk."""
    forecaster = DayForecaster(settings)
    out: list[DayForecast] = []
    for origin in origins:
        out.append(forecaster.day(city, version, origin, horizon, lead))
        if on_day:
            on_day(len(out), len(origins))
    return out


def _forecast_all(
    settings: PlatformSettings,
    city: str,
    version: str,
    origins: list[pd.Timestamp],
    horizon: int,
    config: BacktestConfig,
    on_day: DayCallback | None,
    lead: pd.Timedelta,
) -> list[DayForecast]:
    import ray

    if len(origins) < config.ray_min_days or not ray.is_initialized():
        return forecast_days(settings, city, version, origins, horizon, on_day, lead)
    chunks = max(1, min(len(origins), int(ray.available_resources().get("CPU", 1) / config.ray_task_cpus)))
    parts = [list(part) for part in np.array_split(np.array(origins, dtype=object), chunks) if len(part)]
    task = ray.remote(num_cpus=config.ray_task_cpus)(forecast_days)
    refs = [task.remote(settings, city, version, part, horizon, None, lead) for part in parts]
    results_by_ref: dict[int, list[DayForecast]] = {}
    pending, done_days = list(refs), 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        results_by_ref[refs.index(ready[0])] = ray.get(ready[0])
        done_days += len(results_by_ref[refs.index(ready[0])])
        if on_day:
            on_day(done_days, len(origins))
    return [forecast for i in range(len(refs)) for forecast in results_by_ref[i]]


def _actuals(load: pd.DataFrame, config: BacktestConfig) -> pd.Series:
    """load_mw by ts with flagged blocks set to NaN."""
    values = load.set_index("ts")["load_mw"].astype(float).copy()
    for flag in config.exclude_flags:
        if flag in load.columns:
            values[load[flag].to_numpy(dtype=bool)] = np.nan
    return values


@dataclass(frozen=True)
class BacktestPlan:
    """What a city's backtest forecasts: its model, calendar and issue times."""

    city: str
    version: str
    timezone: str
    resolution_minutes: int
    horizon: int
    origins: list[pd.Timestamp]


def plan_backtest(settings: PlatformSettings, city: str, start: date, end: date, version: str | None = None) -> BacktestPlan:
    """The version to backtest (default: the city's production, else its newest) and each day's issue time."""
    city = city.upper()
    model = open_registry(settings).resolve(city, version)
    timezone = load_catalogue(settings).get(city).timezone
    resolution = open_store(settings).resolution_minutes(city)
    if resolution != model.resolution_minutes:
        raise BacktestError(
            f"city {city} is stored at {resolution} minutes but version {model.version} forecasts {model.resolution_minutes}"
        )
    return BacktestPlan(city, model.version, timezone, resolution, season_steps(resolution, "day"),
                        issue_times(start, end, timezone))


def run_backtest(
    settings: PlatformSettings,
    city: str,
    start: date,
    end: date,
    version: str | None = None,
    *,
    config: BacktestConfig | None = None,
    on_day: DayCallback | None = None,
    lead: pd.Timedelta = pd.Timedelta(0),
) -> BacktestReport:
    """Backtest ``version`` (default: the city's production, else its newest) over local days start..end,
    each day forecast from an issue time ``lead`` before its local midnight with data known strictly before it."""
    config = config or load_backtest_config()
    plan = plan_backtest(settings, city, start, end, version)
    load = read_actuals(settings, plan, config, start, end)
    forecasts = _forecast_all(settings, plan.city, plan.version, plan.origins, plan.horizon, config, on_day, pd.Timedelta(lead))
    return score_backtest(plan, start, end, load, forecasts, config, pd.Timedelta(lead))


def read_actuals(settings: PlatformSettings, plan: BacktestPlan, config: BacktestConfig, start: date, end: date) -> pd.DataFrame:
    """The city's load over the window, with the history before it that the baselines and MASE read."""
    step = pd.Timedelta(minutes=plan.resolution_minutes)
    first, last_end = plan.origins[0], plan.origins[-1] + plan.horizon * step
    load = open_store(settings).read_load(plan.city, first - pd.Timedelta(days=max(8, config.insample_days)), last_end)
    if load.empty or load["ts"].max() < first:
        raise BacktestError(f"city {plan.city} has no load stored between {start} and {end}")
    return load


def score_backtest(plan: BacktestPlan, start: date, end: date, load: pd.DataFrame, forecasts: list[DayForecast],
                   config: BacktestConfig, lead: pd.Timedelta) -> BacktestReport:
    """Members, ensemble and both baselines scored on the same steps of every day."""
    city, origins, horizon, resolution = plan.city, plan.origins, plan.horizon, plan.resolution_minutes
    step = pd.Timedelta(minutes=resolution)
    first = origins[0]
    actual_by_ts = _actuals(load, config)
    names = list(forecasts[0].forecasts)
    collected: dict[str, list[np.ndarray]] = {name: [] for name in [*names, "seasonal_naive_day", "seasonal_naive_week"]}
    actual_parts, stamps = [], []
    for origin, day in zip(origins, forecasts):
        grid = pd.date_range(origin, periods=horizon, freq=step)
        actual_parts.append(actual_by_ts.reindex(grid).to_numpy())
        stamps.append(grid)
        history = load[load["ts"] < origin - lead]
        for name in names:
            collected[name].append(day.forecasts.get(name, np.full((horizon, 3), np.nan)))
        for period in ("day", "week"):
            collected[f"seasonal_naive_{period}"].append(
                seasonal_naive(history, origin, horizon, resolution, period=period, known_until=origin - lead))
    actual = np.concatenate(actual_parts)
    if not np.isfinite(actual).any():
        raise BacktestError(f"city {city} has no usable actuals between {start} and {end}")
    insample = actual_by_ts[(actual_by_ts.index >= first - pd.Timedelta(days=config.insample_days)) & (actual_by_ts.index < first)]
    metrics = {
        name: clean_metrics(
            evaluate(actual, np.concatenate(parts), insample=insample.to_numpy(), season=horizon)
        )
        for name, parts in collected.items()
    }
    return BacktestReport(
        city=city,
        version=plan.version,
        start=start,
        end=end,
        days=len(origins),
        lead=format_lead(pd.Timedelta(lead)),
        weather="forecast" if any(day.weather_forecast for day in forecasts) else "observed",
        resolution_minutes=resolution,
        metrics=metrics,
        series=BacktestSeries(
            timestamps=stamps[0].append(stamps[1:]) if len(stamps) > 1 else stamps[0],
            timezone=plan.timezone,
            actual=actual,
            ensemble=np.concatenate(collected["ensemble"]),
        ),
    )
