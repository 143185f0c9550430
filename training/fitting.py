"""Fit one member on prepared training data, in-process or on Ray Train.

The member's spec (``training.members.registry``) says how: ``distributed=False`` fits in
this process (tiny test bundles, Tune trials, the single-process benchmark baseline); the
default runs Ray Train. Neither calls ``ray.init``: inside a Tune trial or a Ray task the
surrounding cluster is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from training.data_prep import TrainingData
from training.members.per_city import PerCityMember
from training.members.registry import get_member
from training.members.spec import EpochHook, FitContext, FitOutcome
from training.ray_train import RayStorage
from training.scaling import ScalingSpec

__all__ = ["FitOutcome", "fit_member", "fit_member_per_city"]


def fit_member(name: str, params: dict[str, Any], data: TrainingData, *, scaling: ScalingSpec, distributed: bool = True,
               storage: RayStorage | None = None, seed: int = 7, log: Callable[[str], None] = print,
               epoch_hook: EpochHook | None = None, in_tune_trial: bool = False) -> FitOutcome:
    """Fit member ``name`` with ``params`` (validated against its params model) on ``data``;
    a Ray Train fit keeps its checkpoints in ``storage`` (``training.ray_train.ray_storage``)."""
    spec = get_member(name)
    fit = spec.fit_ray if distributed else spec.fit_local
    context = FitContext(scaling=scaling, storage=storage, seed=seed, log=log, epoch_hook=epoch_hook,
                         in_tune_trial=in_tune_trial)
    return fit(spec.validate_params(params), data, context)


def fit_member_per_city(name: str, params: dict[str, Any], data: TrainingData, **kwargs: Any) -> FitOutcome:
    """``global_model: false``: one fit per city on that city's samples, routed by city at predict time."""
    by_city, history, losses = {}, [], []
    for city in data.cities:
        outcome = fit_member(name, params, data.subset(city), **kwargs)
        by_city[city] = outcome.member
        history += [{**h, "city": city} for h in outcome.history]
        losses.append(outcome.validation_pinball)
    return FitOutcome(PerCityMember(name, by_city), float(np.mean(losses)), history)
