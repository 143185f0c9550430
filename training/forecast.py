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
from collections.abc import Callable, Collection, Iterable, Mapping
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


#: Why a member was not run: its weight for the city is zero, so it cannot change the answer.
SKIPPED_REASON = "weight 0 for this city: not run"


@dataclass(frozen=True)
class MemberReport:
    """One member's part in a forecast: used with ``weight``, left out for ``reason``, or
    ``skipped`` (zero weight: not run, which is not a degradation)."""

    name: str
    used: bool
    weight: float
    reason: str | None = None
    skipped: bool = False


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
        return any(not report.used and not report.skipped for report in self.members)

    @property
    def members_used(self) -> list[str]:
        return sorted(report.name for report in self.members if report.used)

    @property
    def members_failed(self) -> dict[str, str]:
        return {report.name: report.reason or "" for report in self.members if not report.used and not report.skipped}


def describe_failure(error: BaseException) -> str:
    """One line saying why a member was left out (the innermost cause of a wrapped remote error)."""
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    cause = error
    while getattr(cause, "cause", None) is not None:
        cause = cause.cause  # type: ignore[attr-defined]
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"[:200]


def split_needed(members: Iterable[str], needed: Collection[str] | None) -> tuple[list[str], list[str]]:
    """(members to run first, members held back): the ones with zero weight for the city are
    held back, since they cannot change the answer; they run only if every needed one fails
    (the ensemble then weighs the members present equally)."""
    names = list(members)
    if needed is None:
        return names, []
    first = [name for name in names if name in needed]
    return (first, [name for name in names if name not in needed]) if first else (names, [])


@dataclass
class MemberOutcomes:
    """What each member answered for one forecast: a prediction, or why it was left out."""

    predictions: dict[str, np.ndarray]
    failures: dict[str, str]
    order: list[str]  # members this version has, in ensemble order
    skipped: list[str] = field(default_factory=list)  # held back (zero weight) and not run

    @classmethod
    def collect(cls, outcomes: Mapping[str, np.ndarray | BaseException | None],
                skipped: Iterable[str] = ()) -> "MemberOutcomes":
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
        return cls(predictions, failures, order, list(skipped))

    @property
    def needs_fallback(self) -> bool:
        """Every member that was run failed, and some were held back: run those."""
        return not self.predictions and bool(self.skipped)

    def with_fallback(self, outcomes: Mapping[str, np.ndarray | BaseException | None]) -> "MemberOutcomes":
        """These outcomes plus the held-back members' answers."""
        more = MemberOutcomes.collect(outcomes)
        return MemberOutcomes({**self.predictions, **more.predictions}, {**self.failures, **more.failures},
                              self.order + more.order)

    def require_any(self, city: str) -> None:
        if not self.predictions:
            detail = "; ".join(f"{name}: {reason}" for name, reason in self.failures.items()) or "no member in this version"
            raise NoMemberError(f"no ensemble member could forecast {city}: {detail}")

    def finish(self, version: str, features: "FeatureSet", quantiles: np.ndarray,
               weights: Mapping[str, float]) -> EnsembleForecast:
        reports = [MemberReport(name, name not in self.failures, float(weights.get(name, 0.0)), self.failures.get(name))
                   for name in self.order]
        reports += [MemberReport(name, False, 0.0, SKIPPED_REASON, skipped=True) for name in self.skipped]
        monotone = np.sort(np.asarray(quantiles, dtype=float), axis=1)
        return EnsembleForecast(features.city, version, features.timestamps, monotone, reports, dict(self.predictions),
                                list(features.notes), features.as_of, features.data_until)


def run_members(members: Mapping[str, "Member"], features: "FeatureSet",
                names: Iterable[str] | None = None) -> dict[str, np.ndarray | BaseException]:
    """Each member's (horizon, 3) forecast for ``features`` (only ``names``, if given), or the exception it raised."""
    outcomes: dict[str, np.ndarray | BaseException] = {}
    for name in members if names is None else names:
        try:
            outcomes[name] = members[name].predict([features])[0]
        except Exception as error:  # a broken member degrades the forecast, never fails it
            outcomes[name] = error
    return outcomes


def forecast_in_process(version: str, members: Mapping[str, "Member"], combine: Combine,
                        features: "FeatureSet", needed: Collection[str] | None = None) -> EnsembleForecast:
    """The whole core in this process: members on ``features`` (with ``needed``, only those
    first), failures left out, combined."""
    first, held_back = split_needed(members, needed)
    outcomes = MemberOutcomes.collect(run_members(members, features, first), skipped=held_back)
    if outcomes.needs_fallback:
        outcomes = outcomes.with_fallback(run_members(members, features, held_back))
    outcomes.require_any(features.city)
    quantiles, weights = combine(features.city, outcomes.predictions, features.lead_steps)
    return outcomes.finish(version, features, quantiles, weights)
