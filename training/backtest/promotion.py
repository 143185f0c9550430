"""The promotion gate: a candidate must beat production on a window neither of them trained on.

The window starts at the first local midnight at or after the later of the two versions'
``train_end`` (data from there on is unseen by both: train and validation end there, the
test split begins) and lasts ``promotion.days`` (configs/backtest.yaml), cut at the last
complete day of stored load. Both versions are backtested there with the same code, and
the candidate passes when its ensemble ``promotion.metric`` (MAPE by default) is strictly
lower. Too short a window refuses the promotion: without evidence, ``--force`` decides.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from data.catalogue import load_catalogue
from data.settings import PlatformSettings
from data.stores import open_store
from training.backtest.config import BacktestConfig, load_backtest_config
from training.backtest.runner import run_backtest
from training.registry import CheckResult, ModelRegistry, ModelVersion


def comparison_window(
    settings: PlatformSettings, candidate: ModelVersion, production: ModelVersion, city: str, config: BacktestConfig
) -> tuple[date, date] | None:
    """Local days [first, last] unseen by both versions, or None when there is no stored load there."""
    timezone = load_catalogue(settings).get(city).timezone
    unseen_from = pd.Timestamp(max(candidate.train_end, production.train_end)).tz_convert(timezone)
    first = unseen_from.normalize().date()
    if unseen_from != unseen_from.normalize():
        first += timedelta(days=1)
    load = open_store(settings).read_load(city, pd.Timestamp(first).tz_localize(timezone).tz_convert("UTC"))
    if load.empty:
        return None
    step = pd.Timedelta(minutes=candidate.resolution_minutes)
    last_complete = (load["ts"].max() + step).tz_convert(timezone).normalize().date() - timedelta(days=1)
    last = min(last_complete, first + timedelta(days=config.promotion.days - 1))
    return (first, last) if last >= first else None


class BacktestCheck:
    """``PromotionCheck`` that compares both versions' backtests on the fair window."""

    def __init__(self, settings: PlatformSettings, registry: ModelRegistry, config: BacktestConfig | None = None) -> None:
        self.settings, self.registry = settings, registry
        self.config = config or load_backtest_config()

    def __call__(self, candidate: ModelVersion, production: ModelVersion, city: str) -> CheckResult:
        metric = self.config.promotion.metric
        window = comparison_window(self.settings, candidate, production, city, self.config)
        days = 0 if window is None else (window[1] - window[0]).days + 1
        if window is None or days < self.config.promotion.min_days:
            return CheckResult(
                city=city,
                passed=False,
                detail=f"only {days} day(s) of load after both versions' training data (need {self.config.promotion.min_days})",
            )
        new = run_backtest(self.settings, city, *window, candidate.version, config=self.config)
        old = run_backtest(self.settings, city, *window, production.version, config=self.config)
        new_value, old_value = new.metrics["ensemble"][metric], old.metrics["ensemble"][metric]
        passed = new_value is not None and (old_value is None or new_value < old_value)
        return CheckResult(
            city=city,
            passed=passed,
            detail=f"ensemble {metric} {_fmt(new_value)} vs {_fmt(old_value)} on {window[0]}..{window[1]}",
            candidate={k: v for k, v in new.metrics["ensemble"].items() if v is not None},
            production={k: v for k, v in old.metrics["ensemble"].items() if v is not None},
        )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
