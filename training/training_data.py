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

import pandas as pd

from data.errors import PlatformError
from training.features.grid import Samples
from training.prepared import (CityPrepared, CitySummary, Moments, SampleShapes, SplitForecast, fold_train_role, sort_forecast,
                               split_of, targets_of)
from training.preprocessor import LoadPreprocessor

if TYPE_CHECKING:
    import ray.data

SPLITS = ("train", "validation", "test", "full")


class TrainingDataError(PlatformError):
    """There is not enough (or inconsistent) data to train on; the message says which city and why."""


@dataclass
class TrainingData:
    """The prepared cities of one training run: samples here (``prepared``) or in the
    cluster (``city_blocks``), and what the driver keeps either way (``summaries``)."""

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
            blocks = self.city_blocks.filter(expr=f"city == '{city}'")  # catalogue codes: letters and digits only
        prepared = None if self.prepared is None else [p for p in self.prepared if p.summary.city == city]
        return replace(self, cities=[city], summaries={city: self.summaries[city]}, prepared=prepared, city_blocks=blocks)

    @property
    def earlier_folds(self) -> int:
        """Rolling-origin folds before the validation window (``split.cv_folds`` - 1; the test window is the last fold)."""
        return sum(1 for key in self.windows if key.startswith("cv") and key.endswith("_start"))

    def fold(self, j: int) -> "TrainingData":
        """Fold ``j`` (1 = just before the validation window) as a training run of its own: train
        on every sample whose horizon ends by ``cv<j>_train_end`` (``validation_days`` before the
        fold, as the test window's members stop before theirs), score ("test") the fold's window."""
        if not 1 <= j <= self.earlier_folds:
            raise TrainingDataError(f"fold {j} does not exist: these data have folds 1..{self.earlier_folds}")
        role = fold_train_role(self.windows[f"cv{j}_train_end"], self.horizon, self.resolution_minutes)
        return replace(self, roles={**self.roles, "train": role, "test": f"cv{j}"})

    def everything(self) -> "TrainingData":
        """The same data with every window to train on (the final refit); validation stays for progress lines."""
        return replace(self, roles={**self.roles, "train": "full"})

    # -- reading a split ---------------------------------------------------------------
    def samples(self, split: str) -> Samples:
        """The split's samples in this process (in-process fits and tests; a distributed
        pipeline never calls this for training-sized splits)."""
        role = self.roles[split]
        if self.prepared is not None:
            return Samples.concat([split_of(p.splits, role) for p in self.prepared])
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
        from training.members.common import scaled_pinball_of

        result = self.forecast({member.name: member}, "validation")
        return scaled_pinball_of(result.predictions[member.name], result.targets)
