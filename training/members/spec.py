"""What the platform knows about a member: one ``MemberSpec`` each, kept in
``training.members.registry``.

Everything that used to branch on a member's name (which params model validates its
YAML, how it fits in-process and on Ray Train, how it loads from a bundle folder, which
Serve deployment answers for it) reads the spec instead, so adding a member is one module
that builds a spec plus one registry line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel

from training.features.grid import Samples
from training.ray_train import RayStorage
from training.scaling import ScalingSpec

#: What a member learns on: tensors (torch networks, AMP on a GPU) or a booster (XGBoost, device=cuda on a GPU).
MemberKind = Literal["tensor", "booster"]


@runtime_checkable
class TrainedMember(Protocol):
    """A fitted member: forecasts samples (training, backtests) and feature sets (serving)."""

    name: str

    def predict_samples(self, samples: Samples) -> np.ndarray:
        """(n, horizon, 3) MW quantiles, monotone per step."""
        ...

    def predict(self, batch: list[Any]) -> list[np.ndarray]:
        """One (horizon, 3) MW array per ``FeatureSet``."""
        ...

    def save(self, folder: Path) -> None: ...


class FitData(Protocol):
    """The part of ``training.training_data.TrainingData`` a fit reads: in-process fits read
    ``train``/``validation`` as arrays, Ray Train fits stream ``dataset(split)`` to workers."""

    train: Samples
    validation: Samples

    @property
    def resolution_minutes(self) -> int: ...

    @property
    def horizon(self) -> int: ...

    @property
    def n_cities(self) -> int: ...

    @property
    def shapes(self) -> Any: ...

    def moments(self, split: str = "train") -> Any: ...

    def count(self, split: str) -> int: ...

    def dataset(self, split: str) -> Any: ...

    def validation_pinball(self, member: "TrainedMember") -> float: ...


#: Called at the start of every epoch (or boosting chunk) on each worker; tests inject faults with it.
EpochHook = Callable[[int], None]


@dataclass(frozen=True)
class FitContext:
    """How to run a fit: where, with which seed, and where its progress lines go.

    ``in_tune_trial``: the fit is a Tune trial's. A ``fit_ray`` builds its run with
    ``training.ray_train.run_config(name, ctx)``, which then hands every ``ray.train.report``
    of the workers (with ``val_loss``) to Tune as one result, so ASHA can stop the trial."""

    scaling: ScalingSpec = field(default_factory=ScalingSpec)
    storage: RayStorage | None = None  # Ray Train checkpoints (None: a temporary folder)
    seed: int = 7
    log: Callable[[str], None] = print
    epoch_hook: EpochHook | None = None
    in_tune_trial: bool = False


@dataclass
class FitOutcome:
    member: TrainedMember
    validation_pinball: float  # in units of the city scale (comparable across cities and members)
    history: list[dict] = field(default_factory=list)
    #: The params that repeat this fit's selection without early stopping (the final refit on all data uses them).
    selected: dict[str, Any] = field(default_factory=dict)


FitFunction = Callable[[dict[str, Any], FitData, FitContext], FitOutcome]


@dataclass(frozen=True)
class MemberSpec:
    """One member, completely: its name, hyperparameters, fits, loader and Serve deployment."""

    name: str
    params: type[BaseModel]
    kind: MemberKind
    fit_local: FitFunction  # in this process (tiny bundles, Tune trials, the single-process benchmark)
    fit_ray: FitFunction  # on Ray Train workers
    load: Callable[[Path], TrainedMember]  # from the folder ``save`` wrote
    deployment: str  # Ray Serve deployment name, e.g. "XGBoost"
    progress_reports: Callable[[dict[str, Any]], int]  # most progress reports one fit makes (ASHA's max_t)
    description: str = ""

    def validate_params(self, raw: dict[str, Any] | BaseModel) -> dict[str, Any]:
        """``raw`` checked against the params model, as a plain dict with every default filled."""
        data = raw.model_dump() if isinstance(raw, BaseModel) else raw
        return self.params.model_validate(data).model_dump()
