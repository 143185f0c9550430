"""The contract between a trained model and everyone who uses it (backtests, serving, benchmarks).

Serving splits a forecast across Ray Serve deployments exactly along these seams:
``Preprocessor.features`` (one deployment) -> ``Member.predict`` (one deployment per
member, batched) -> ``Ensemble.combine`` (one deployment). The in-process path,
``ModelBundle.forecast``, runs the same three steps through the same forecast core
(``training.forecast``), so a backtest and the HTTP service cannot disagree. Serving
imports these protocols and the core's result types, never a concrete model class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from training.forecast import EnsembleForecast

#: Quantiles every member and the ensemble produce, in this column order.
QUANTILES: tuple[float, float, float] = (0.1, 0.5, 0.9)


@dataclass
class ForecastInput:
    """Everything needed to forecast one city from one issue time.

    ``history`` holds load rows (``data.schema.LOAD_COLUMNS``) strictly before ``as_of`` (the
    issue time, at most ``start``);
    ``weather`` holds weather rows (observed, or forecasts / user-supplied values for the
    horizon) for the look-back window and the horizon. Missing horizon weather is filled
    by the preprocessor from climatology of the history, and reported in ``notes``;
    ``notes`` already says where the horizon weather came from.
    """

    city: str
    start: pd.Timestamp  # UTC, aligned to the resolution: the first forecast interval's start
    horizon: int  # number of steps
    resolution_minutes: int
    history: pd.DataFrame
    weather: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    as_of: pd.Timestamp | None = None  # issue time: only data strictly before it is used (None: ``start``)


@runtime_checkable
class FeatureSet(Protocol):
    """What the preprocessor hands to members: picklable, numpy only, one per request."""

    city: str
    horizon: int
    timestamps: pd.DatetimeIndex  # UTC interval starts of the horizon
    notes: list[str]
    as_of: pd.Timestamp | None  # the issue time
    data_until: pd.Timestamp | None  # end of the last known load block the features used
    lead_steps: int  # steps from data_until to the first forecast step


@runtime_checkable
class Preprocessor(Protocol):
    resolution_minutes: int

    def history_needed(self, resolution_minutes: int) -> pd.Timedelta:
        """How much load history before ``start`` the features need."""
        ...

    def features(self, inp: ForecastInput) -> FeatureSet: ...


@runtime_checkable
class Member(Protocol):
    name: str

    def predict(self, batch: list[FeatureSet]) -> list[np.ndarray]:
        """One (horizon, 3) MW array per feature set, quantiles monotone."""
        ...


@runtime_checkable
class Ensemble(Protocol):
    def combine(self, city: str, predictions: dict[str, np.ndarray], lead_steps: int = 0) -> tuple[np.ndarray, dict[str, float]]:
        """Weighted quantiles from the members present, weights renormalised, bands calibrated for the lead;
        returns (quantiles, weights used)."""
        ...

    def members_needed(self, city: str) -> frozenset[str]:
        """Members with a positive weight for ``city``: the others cannot change its answer."""
        ...


@runtime_checkable
class ModelBundle(Protocol):
    """A trained version as loaded from the registry folder."""

    version: str
    preprocessor: Preprocessor
    members: dict[str, Member]
    ensemble: Ensemble

    def forecast(self, inp: ForecastInput) -> EnsembleForecast: ...

