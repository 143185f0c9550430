"""The forecast core: run the members on one feature set, leave out the ones that fail,
combine the rest with the ensemble, and say what happened.

Every path that forecasts goes through here: the bundle's own ``forecast`` (backtests),
the in-process engine and the Ray Serve engine. Only the transport differs: in process
the members are called directly (``forecast_in_process``); the Serve engine calls its
member deployments, hands their answers (or exceptions) to ``MemberOutcomes.collect``,
asks the Ensemble deployment to combine and finishes with ``MemberOutcomes.finish``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from data.errors import ServiceUnavailableError

if TYPE_CHECKING:  # the protocols only; training.api imports this module for its result type
    from training.api import FeatureSet, Member

#: (city, predictions by member, lead steps) -> (quantiles (horizon, 3), weight used per member)
Combine = Callable[[str, dict[str, np.ndarray], int], tuple[np.ndarray, dict[str, float]]]


class NoMemberError(ServiceUnavailableError):
    """No ensemble member could answer: the forecast cannot be made (HTTP 503)."""


@dataclass(frozen=True)
class MemberReport:
    """One member's part in a forecast: used with ``weight``, or left out for ``reason``."""

    name: str
    used: bool
    weight: float
    reason: str | None = None


@dataclass
class EnsembleForecast:
    """Quantile forecast in MW for ``len(timestamps)`` steps, P10 <= P50 <= P90 in every row."""

    city: str
    model_version: str
    timestamps: pd.DatetimeIndex  # UTC interval starts
    quantiles: np.ndarray  # (horizon, 3), columns training.api.QUANTILES
    members: list[MemberReport]
    member_forecasts: dict[str, np.ndarray] = field(default_factory=dict)  # member -> (horizon, 3)
    notes: list[str] = field(default_factory=list)
    as_of: pd.Timestamp | None = None  # the issue time
    data_until: pd.Timestamp | None = None  # end of the last known load block used

    @property
    def degraded(self) -> bool:
        return any(not report.used for report in self.members)

    @property
    def members_used(self) -> list[str]:
        return sorted(report.name for report in self.members if report.used)

    @property
    def members_failed(self) -> dict[str, str]:
        return {report.name: report.reason or "" for report in self.members if not report.used}


def describe_failure(error: BaseException) -> str:
    """One line saying why a member was left out (the innermost cause of a wrapped remote error)."""
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    cause = error
    while getattr(cause, "cause", None) is not None:
        cause = cause.cause  # type: ignore[attr-defined]
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"[:200]


@dataclass
class MemberOutcomes:
    """What each member answered for one forecast: a prediction, or why it was left out."""

    predictions: dict[str, np.ndarray]
    failures: dict[str, str]
    order: list[str]  # members this version has, in ensemble order

    @classmethod
    def collect(cls, outcomes: Mapping[str, np.ndarray | BaseException | None]) -> "MemberOutcomes":
        """``None`` means this version has no such member (it is not reported at all)."""
        predictions: dict[str, np.ndarray] = {}
        failures: dict[str, str] = {}
        order: list[str] = []
        for name, outcome in outcomes.items():
            if outcome is None:
                continue
            order.append(name)
            if isinstance(outcome, BaseException):
                failures[name] = describe_failure(outcome)
            else:
                predictions[name] = outcome
        return cls(predictions, failures, order)

    def require_any(self, city: str) -> None:
        if not self.predictions:
            detail = "; ".join(f"{name}: {reason}" for name, reason in self.failures.items()) or "no member in this version"
            raise NoMemberError(f"no ensemble member could forecast {city}: {detail}")

    def finish(self, version: str, features: "FeatureSet", quantiles: np.ndarray,
               weights: Mapping[str, float]) -> EnsembleForecast:
        reports = [MemberReport(name, name not in self.failures, float(weights.get(name, 0.0)), self.failures.get(name))
                   for name in self.order]
        monotone = np.sort(np.asarray(quantiles, dtype=float), axis=1)
        return EnsembleForecast(features.city, version, features.timestamps, monotone, reports, dict(self.predictions),
                                list(features.notes), features.as_of, features.data_until)


def run_members(members: Mapping[str, "Member"], features: "FeatureSet") -> dict[str, np.ndarray | BaseException]:
    """Each member's (horizon, 3) forecast for ``features``, or the exception it raised."""
    outcomes: dict[str, np.ndarray | BaseException] = {}
    for name, member in members.items():
        try:
            outcomes[name] = member.predict([features])[0]
        except Exception as error:  # a broken member degrades the forecast, never fails it
            outcomes[name] = error
    return outcomes


def forecast_in_process(version: str, members: Mapping[str, "Member"], combine: Combine,
                        features: "FeatureSet") -> EnsembleForecast:
    """The whole core in this process: members on ``features``, failures left out, combined."""
    outcomes = MemberOutcomes.collect(run_members(members, features))
    outcomes.require_any(features.city)
    quantiles, weights = combine(features.city, outcomes.predictions, features.lead_steps)
    return outcomes.finish(version, features, quantiles, weights)
