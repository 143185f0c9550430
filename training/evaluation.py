"""Test-window evaluation at training time: every member, the ensemble and both baselines,
scored with ``training.metrics`` on the same day-ahead issue times per city."""

from __future__ import annotations

import numpy as np

from training.assemble import truth_mw
from training.metrics import evaluate, season_steps
from training.prepared import BASELINE_NAMES, SplitForecast
from training.training_data import TrainingData


def _baselines(data: TrainingData, reference: SplitForecast) -> dict[str, np.ndarray]:
    """Each reference sample's seasonal-naive forecasts, prepared with its city's data (``CitySummary.baselines``)."""
    t = reference.targets
    origins = t.origin.astype("datetime64[ns]").astype(np.int64)
    return {name: np.stack([data.summaries[str(city)].baselines[name][int(origin)] for city, origin in zip(t.cities, origins)])
            for name in BASELINE_NAMES}


def evaluate_test(data: TrainingData, test: SplitForecast, ensemble_forecasts: np.ndarray) -> dict[str, dict[str, dict[str, float]]]:
    """{city|"all": {forecaster: {metric: value}}}; "all" averages the cities' metrics.

    Scored on the reference protocol: each test day forecast from its own local midnight
    (lead 0), the same issue times as the seasonal-naive baselines. ``test`` holds the
    members' forecasts of every test sample and ``ensemble_forecasts`` the ensemble's
    cross-fitted ones, in the same order (``training.assemble``).
    """
    index = np.flatnonzero(test.targets.lead == 0)
    reference = test.take(index)
    return _score(data, reference, {**reference.predictions, "ensemble": ensemble_forecasts[index], **_baselines(data, reference)})


def evaluate_folds(data: TrainingData, folds: dict[str, SplitForecast], ensemble_forecasts: dict[str, np.ndarray]) -> dict[str, dict[str, dict[str, float]]]:
    """{fold: {forecaster: {metric: value}}}: each rolling-origin fold scored like the test
    window (lead 0, cities averaged), members and the ensemble's cross-fitted forecasts."""
    out = {}
    for name, forecast in folds.items():
        index = np.flatnonzero(forecast.targets.lead == 0)
        if not len(index):
            continue
        reference = forecast.take(index)
        out[name] = _score(data, reference, {**reference.predictions, "ensemble": ensemble_forecasts[name][index]})["all"]
    return out


def _score(data: TrainingData, reference: SplitForecast, forecasts: dict[str, np.ndarray]) -> dict[str, dict[str, dict[str, float]]]:
    targets = reference.targets
    actual = np.where(targets.ymask, truth_mw(targets), np.nan)
    season = season_steps(data.resolution_minutes, "day")
    result: dict[str, dict[str, dict[str, float]]] = {}
    for city in np.unique(targets.cities):
        rows = np.flatnonzero(targets.cities == city)
        insample = data.summaries[str(city)].insample
        result[str(city)] = {
            name: evaluate(actual[rows].reshape(-1), f[rows].reshape(-1, 3), insample=insample, season=season)
            for name, f in forecasts.items()
        }
    names = list(forecasts)
    result["all"] = {
        name: {metric: float(np.nanmean([result[c][name][metric] for c in result if c != "all"]))
               for metric in result[str(targets.cities[0])][name]}
        for name in names
    }
    return result
