"""Prepared training data: each city's samples per split, held where they were built.

Built in this process (``build_training_data``: tests, tiny bundles, the single-process
benchmark) the samples are numpy arrays here. Built from the store on Ray
(``prepare_training_data``) they stay in the cluster: one Ray Data block per city
(``training.datasets``), and the driver keeps only each city's ``CitySummary`` (scale,
counts, feature moments, the test window's baselines), a few kilobytes. Fits read a
split either as ``Samples`` in their own process (``samples``; in-process fits) or as a
Dataset of sample rows streamed to Ray Train workers (``dataset``); scoring asks for
``forecast``, which runs members where the samples are and returns forecasts and targets
only, never features.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from data.errors import PlatformError
from training.features.grid import Samples
from training.preprocessor import LoadPreprocessor

if TYPE_CHECKING:
    import ray.data

SPLITS = ("train", "validation", "test", "full")
#: Seasonal-naive baselines the test evaluation scores beside the models.
BASELINE_NAMES = ("seasonal_naive_day", "seasonal_naive_week")


class TrainingDataError(PlatformError):
    """There is not enough (or inconsistent) data to train on; the message says which city and why."""


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


@dataclass
class SplitForecast:
    """Members' forecasts of one split with its targets (``Samples`` without features), sorted by city, origin, lead."""

    predictions: dict[str, np.ndarray]  # member -> (n, H, 3) MW
    targets: Samples

    def take(self, index: np.ndarray) -> "SplitForecast":
        return SplitForecast({k: v[index] for k, v in self.predictions.items()}, self.targets.take(index))


def targets_of(samples: Samples) -> Samples:
    """The samples without their features: what scoring a forecast needs."""
    n, h = samples.y.shape
    return replace(samples, future=np.zeros((n, h, 0), np.float32), hist=np.zeros((n, 0, 0), np.float32))


def sort_forecast(predictions: dict[str, np.ndarray], targets: Samples) -> SplitForecast:
    order = np.lexsort((targets.lead, targets.origin.astype(np.int64), targets.cities.astype(str)))
    return SplitForecast({k: v[order] for k, v in predictions.items()}, targets.take(order))


@dataclass
class TrainingData:
    preprocessor: LoadPreprocessor
    resolution_minutes: int
    cities: list[str]
    windows: dict[str, pd.Timestamp]
    summaries: dict[str, CitySummary]
    shapes: SampleShapes
    prepared: list[CityPrepared] | None = None  # built in this process
    city_blocks: Any = None  # built on Ray: a materialized ray.data.Dataset, one row per city
    #: Which prepared split each role reads: the final refit trains on "full".
    roles: dict[str, str] = field(default_factory=lambda: {s: s for s in SPLITS})

    # -- shape -------------------------------------------------------------------------
    @property
    def horizon(self) -> int:
        return self.preprocessor.horizon

    @property
    def n_cities(self) -> int:
        return len(self.preprocessor.city_index)

    @property
    def distributed(self) -> bool:
        return self.city_blocks is not None

    def count(self, split: str) -> int:
        return sum(s.counts[self.roles[split]] for s in self.summaries.values())

    def moments(self, split: str = "train") -> Moments:
        parts = [s.moments[self.roles[split]] for s in self.summaries.values()]
        out = parts[0]
        for part in parts[1:]:
            out = out + part
        return out

    # -- views -------------------------------------------------------------------------
    def subset(self, city: str) -> "TrainingData":
        """The same data restricted to one city (per-city models)."""
        if city not in self.summaries:
            raise TrainingDataError(f"city '{city}' is not in these training data ({', '.join(self.cities)})")
        blocks = None
        if self.city_blocks is not None:
            blocks = self.city_blocks.filter(lambda row, code=city: row["city"] == code)
        prepared = None if self.prepared is None else [p for p in self.prepared if p.summary.city == city]
        return replace(self, cities=[city], summaries={city: self.summaries[city]}, prepared=prepared, city_blocks=blocks)

    def everything(self) -> "TrainingData":
        """The same data with every window to train on (the final refit); validation stays for progress lines."""
        return replace(self, roles={**self.roles, "train": "full"})

    # -- reading a split ---------------------------------------------------------------
    def samples(self, split: str) -> Samples:
        """The split's samples in this process (in-process fits and tests; a distributed
        pipeline never calls this for training-sized splits)."""
        name = self.roles[split]
        if self.prepared is not None:
            return Samples.concat([p.splits[name] for p in self.prepared])
        from training.datasets import collect_samples

        return collect_samples(self.dataset(split))

    @property
    def train(self) -> Samples:
        return self.samples("train")

    @property
    def validation(self) -> Samples:
        return self.samples("validation")

    @property
    def test(self) -> Samples:
        return self.samples("test")

    def dataset(self, split: str) -> "ray.data.Dataset":
        """The split as a Dataset of sample rows (``training.datasets.ROW_COLUMNS``) for Ray Train workers."""
        from training.datasets import city_blocks_from_prepared, sample_rows

        blocks = self.city_blocks if self.city_blocks is not None else city_blocks_from_prepared(self.prepared)
        return sample_rows(blocks, self.roles[split])

    def forecast(self, members: dict, split: str) -> SplitForecast:
        """Every member's forecast of the split where its samples are: here, or as Ray Data batch inference."""
        if self.city_blocks is None:
            samples = self.samples(split)
            predictions = {name: member.predict_samples(samples) for name, member in members.items()}
            return sort_forecast(predictions, targets_of(samples))
        from training.datasets import forecast_rows

        return forecast_rows(self.dataset(split), members)

    def validation_pinball(self, member) -> float:
        """A fitted member's pinball on the validation window, in scaled units (comparable across cities and members)."""
        from training.members.common import pinball

        result = self.forecast({member.name: member}, "validation")
        t = result.targets
        pred = result.predictions[member.name] / t.scale[:, None, None]
        return pinball(pred, np.nan_to_num(t.y + t.level[:, None]), t.ymask)
