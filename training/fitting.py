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
    """``global_model: false``: one fit per city on that city's samples, routed by city at predict time.

    With ``distributed`` (the default) every city is one Ray task, reserving what one Train
    worker would (``scaling.cpus_per_worker``, a GPU when ``use_gpu`` resolves so), and fitting
    in that task's process: a hundred cities' small fits run side by side across the cluster
    instead of paying a Train run's start-up a hundred times. Without it (tiny test bundles,
    the single-process baseline) the cities fit one after another here. Either way one line
    per finished city. ``city_params`` (the final refit) gives a city params over ``params``,
    e.g. the rounds its own selection chose; the outcome's ``selected`` is per city likewise.
    The other keyword arguments are ``fit_member``'s.
    """
    city_params: dict[str, dict[str, Any]] = kwargs.pop("city_params", None) or {}
    log: Callable[[str], None] = kwargs.get("log", print)
    jobs = {city: ({**params, **city_params.get(city, {})}, data.subset(city)) for city in data.cities}
    if kwargs.get("distributed", True):
        outcomes = _fit_cities_on_ray(name, jobs, kwargs, log)
    else:
        outcomes = {}
        for city, (own_params, subset) in jobs.items():
            outcomes[city] = fit_member(name, own_params, subset, **kwargs)
            _log_city(log, name, city, outcomes[city], len(outcomes), len(jobs))
    history = [{**h, "city": city} for city, outcome in outcomes.items() for h in outcome.history]
    member = PerCityMember(name, {city: outcome.member for city, outcome in outcomes.items()})
    return FitOutcome(member, float(np.mean([o.validation_pinball for o in outcomes.values()])), history,
                      {city: outcome.selected for city, outcome in outcomes.items()})


def _log_city(log: Callable[[str], None], name: str, city: str, outcome: FitOutcome, done: int, total: int) -> None:
    log(f"[{name}] {city}: validation pinball {outcome.validation_pinball:.4f} ({done}/{total} cities)")


def _quiet(line: str) -> None:
    """A city task's own progress lines stay in its worker: the driver prints one line per city."""


def _fit_city(name: str, params: dict[str, Any], data: TrainingData, kwargs: dict[str, Any]) -> FitOutcome:
    return fit_member(name, params, data, **kwargs)


def _fit_cities_on_ray(name: str, jobs: dict[str, tuple[dict[str, Any], TrainingData]], kwargs: dict[str, Any],
                       log: Callable[[str], None]) -> dict[str, FitOutcome]:
    """One Ray task per city, as many at once as the cluster's CPUs allow; the first city that
    fails cancels the rest and fails the member."""
    import ray

    from training.ray_train import resolve_use_gpu

    scaling: ScalingSpec = kwargs.get("scaling", ScalingSpec())
    gpu = resolve_use_gpu(scaling.use_gpu)
    task_kwargs = {**kwargs, "distributed": False, "log": _quiet,
                   "scaling": scaling.model_copy(update={"use_gpu": "true" if gpu else "false", "workers": 1})}
    remote = ray.remote(_fit_city)
    resources = {"num_cpus": scaling.cpus_per_worker, "num_gpus": 1 if gpu else 0, "max_retries": scaling.max_failures}
    # A city's samples may be a Ray Dataset its task reads: fits holding every CPU would leave none
    # for those reads, so at most as many run at once as leave one CPU of the cluster free.
    in_flight = max(1, int((ray.cluster_resources().get("CPU", 1.0) - 1) // scaling.cpus_per_worker))
    waiting = list(jobs.items())
    pending: dict[Any, str] = {}
    outcomes: dict[str, FitOutcome] = {}
    try:
        while waiting or pending:
            while waiting and len(pending) < in_flight:
                city, (own_params, subset) = waiting.pop(0)
                call = remote.options(name=f"fit {name} {city}", **resources)
                pending[call.remote(name, own_params, subset, task_kwargs)] = city
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            city = pending.pop(ready)
            outcomes[city] = ray.get(ready)
            _log_city(log, name, city, outcomes[city], len(outcomes), len(jobs))
    finally:
        for ref in pending:
            ray.cancel(ref)
    return {city: outcomes[city] for city in jobs}
