"""What preparing a city produces and what scoring a split returns: plain arrays and
small summaries, shared by the in-process and the Ray Data paths (``training.training_data``,
``training.datasets``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from training.features.grid import Samples

#: Seasonal-naive baselines the test evaluation scores beside the models.
BASELINE_NAMES = ("seasonal_naive_day", "seasonal_naive_week")


@dataclass
class Moments:
    """Per-feature count, sum and sum of squares of the future features (NaN skipped):
    enough to standardise inputs identically whichever workers hold which cities."""

    count: np.ndarray
    total: np.ndarray
    squares: np.ndarray

    @classmethod
    def of(cls, future: np.ndarray) -> "Moments":
        flat = future.reshape(-1, future.shape[-1]).astype(np.float64)
        ok = ~np.isnan(flat)
        values = np.where(ok, flat, 0.0)
        return cls(ok.sum(axis=0).astype(np.float64), values.sum(axis=0), (values ** 2).sum(axis=0))

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(self.count + other.count, self.total + other.total, self.squares + other.squares)

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        count = np.maximum(self.count, 1.0)
        mean = np.where(self.count > 0, self.total / count, 0.0)
        var = np.maximum(self.squares / count - mean ** 2, 0.0)
        std = np.where(self.count > 0, np.sqrt(var), 1.0)
        return mean, std


@dataclass
class CitySummary:
    """What the driver keeps of one city's prepared data."""

    city: str
    scale: float
    counts: dict[str, int]  # samples per split
    moments: dict[str, Moments]  # future-feature moments of "train" and "full"
    #: Seasonal-naive forecasts (H, 3) MW of each lead-0 test sample, keyed by its origin (int64 ns UTC).
    baselines: dict[str, dict[int, np.ndarray]]
    insample: np.ndarray  # the load before the test window (MASE's scale)


@dataclass
class CityPrepared:
    """One city's samples of every split and its summary: what one data task produces."""

    summary: CitySummary
    splits: dict[str, Samples]


@dataclass
class SampleShapes:
    """Feature sizes the networks are built with (the same for every city)."""

    n_future: int
    n_hist: int
    hist_len: int

    @classmethod
    def of(cls, samples: Samples) -> "SampleShapes":
        return cls(n_future=samples.future.shape[2] - 1, n_hist=samples.hist.shape[2], hist_len=samples.hist.shape[1])


@dataclass
class SplitForecast:
    """Members' forecasts of one split with its targets (``Samples`` without features), sorted by city, origin, lead."""

    predictions: dict[str, np.ndarray]  # member -> (n, H, 3) MW
    targets: Samples

    def take(self, index: np.ndarray) -> "SplitForecast":
        return SplitForecast({k: v[index] for k, v in self.predictions.items()}, self.targets.take(index))

    @staticmethod
    def concat(parts: list["SplitForecast"]) -> "SplitForecast":
        """Forecasts of several windows by the same members, one after another."""
        names = sorted(parts[0].predictions)
        return SplitForecast({n: np.concatenate([p.predictions[n] for p in parts]) for n in names},
                             Samples.concat([p.targets for p in parts]))


#: Separates a split's name from the latest first-target time of its cut ("train<1693526400000000000").
CUT = "<"


def cut_role(split: str, latest_start) -> str:
    """The role reading ``split``'s samples whose first target step is at or before ``latest_start``."""
    return f"{split}{CUT}{int(np.datetime64(latest_start.tz_convert('UTC').tz_localize(None), 'ns').astype(np.int64))}"


def fold_train_role(train_end, horizon: int, resolution_minutes: int) -> str:
    """The training samples of a rolling-origin fold whose fit ends at ``train_end`` (a UTC
    Timestamp): the "train" samples whose whole horizon ends before it."""
    return cut_role("train", train_end - pd.Timedelta(minutes=resolution_minutes * horizon))


def split_of(splits: dict[str, Samples], role: str) -> Samples:
    """A role's samples from one city's prepared splits: a split as is, or a cut of it (``cut_role``)."""
    name, _, latest = role.partition(CUT)
    part = splits[name]
    if not latest:
        return part
    return part.take(np.flatnonzero(part.start.astype("datetime64[ns]").astype(np.int64) <= int(latest)))


def targets_of(samples: Samples) -> Samples:
    """The samples without their features: what scoring a forecast needs."""
    n, h = samples.y.shape
    return replace(samples, future=np.zeros((n, h, 0), np.float32), hist=np.zeros((n, 0, 0), np.float32))


def sort_forecast(predictions: dict[str, np.ndarray], targets: Samples) -> SplitForecast:
    order = np.lexsort((targets.lead, targets.origin.astype(np.int64), targets.cities.astype(str)))
    return SplitForecast({k: v[order] for k, v in predictions.items()}, targets.take(order))
