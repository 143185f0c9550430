"""Test-window evaluation at training time: every member, the ensemble and both baselines,
scored with ``training.metrics`` on the same day-ahead issue times per city."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.assemble import member_predictions, truth_mw
from training.baselines import seasonal_naive
from training.data_prep import TrainingData
from training.features.grid import Samples
from training.metrics import evaluate, season_steps

BASELINE_NAMES = ("seasonal_naive_day", "seasonal_naive_week")


def _baselines(data: TrainingData, test: Samples) -> dict[str, np.ndarray]:
    out = {name: np.zeros((len(test), data.horizon, 3)) for name in BASELINE_NAMES}
    for i in range(len(test)):
        origin = pd.Timestamp(test.origin[i]).tz_localize("UTC")
        history = data.loads[str(test.cities[i])]
        for name, period in zip(BASELINE_NAMES, ("day", "week")):
            out[name][i] = seasonal_naive(history, origin, data.horizon, data.resolution_minutes, period)
    return out


def evaluate_test(data: TrainingData, members: dict, ensemble_forecasts: np.ndarray) -> dict[str, dict[str, dict[str, float]]]:
    """{city|"all": {forecaster: {metric: value}}}; "all" averages the cities' metrics.

    Scored on the reference protocol: each test day forecast from its own local midnight
    (lead 0), the same issue times as the seasonal-naive baselines. ``ensemble_forecasts``
    are the ensemble's cross-fitted forecasts of every test sample (``training.assemble``).
    """
    reference = np.flatnonzero(data.test.lead == 0)
    test = data.test.take(reference)
    preds = member_predictions(members, test)
    forecasts = {**preds, "ensemble": ensemble_forecasts[reference], **_baselines(data, test)}
    actual = np.where(test.ymask, truth_mw(test), np.nan)
    season = season_steps(data.resolution_minutes, "day")
    result: dict[str, dict[str, dict[str, float]]] = {}
    for city in np.unique(test.cities):
        index = np.flatnonzero(test.cities == city)
        history = data.loads[str(city)]
        first_test = pd.Timestamp(test.origin[index].min()).tz_localize("UTC")
        insample = history[pd.to_datetime(history["ts"], utc=True) < first_test]["load_mw"].to_numpy(float)[-season * 8:]
        result[str(city)] = {
            name: evaluate(actual[index].reshape(-1), f[index].reshape(-1, 3), insample=insample, season=season)
            for name, f in forecasts.items()
        }
    names = list(forecasts)
    result["all"] = {
        name: {metric: float(np.nanmean([result[c][name][metric] for c in result if c != "all"]))
               for metric in result[str(test.cities[0])][name]}
        for name in names
    }
    return result
