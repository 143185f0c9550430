"""Fit one member on prepared training data, in-process or on Ray Train.

``distributed=False`` fits in this process (tiny test bundles, the single-process
benchmark baseline); the default runs Ray Train (``training.ray_fit``). Neither calls
``ray.init``: inside a Tune trial or a Ray task the surrounding cluster is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xgboost as xgb

from training.config import PARAMS_MODELS, ScalingSpec
from training.data_prep import TrainingData
from training.features.grid import Samples
from training.members.common import pinball
from training.members.per_city import PerCityMember
from training.members.torch_loop import LocalSession, train_sequence_member
from training.members.torch_member import Normaliser, TorchMember
from training.members.xgboost_member import XGBoostMember, booster_params, flatten


@dataclass
class FitOutcome:
    member: object
    validation_pinball: float  # in units of the city scale (comparable across cities and members)
    history: list[dict] = field(default_factory=list)


def scaled_pinball(member, samples: Samples) -> float:
    """Validation pinball of a member in scaled units (MW / city scale)."""
    pred = member.predict_samples(samples) / samples.scale[:, None, None]
    truth = (samples.y + samples.level[:, None])
    return pinball(pred, np.nan_to_num(truth), samples.ymask)


def torch_arch(name: str, params: dict, data: TrainingData) -> dict:
    n_future = data.train.future.shape[2] - 1
    n_hist = data.train.hist.shape[2]
    common = {"n_future": n_future, "n_hist": n_hist, "n_cities": len(data.preprocessor.city_index),
              "dropout": params["dropout"], "city_embedding": params["city_embedding"]}
    if name == "lstm":
        return {**common, "hidden": params["hidden"], "layers": params["layers"]}
    spd = 1440 // data.resolution_minutes
    return {**common, "hist_len": data.train.hist.shape[1], "horizon": data.horizon, "patch": max(1, spd // 24),
            "d_model": params["d_model"], "heads": params["heads"], "layers": params["layers"], "ff": params["ff"]}


def _fit_xgboost_local(params: dict, data: TrainingData, seed: int, log: Callable[[str], None]) -> FitOutcome:
    x, y = flatten(data.train)
    xv, yv = flatten(data.validation)
    dtrain = xgb.QuantileDMatrix(x, y)
    dval = xgb.QuantileDMatrix(xv, yv, ref=dtrain)
    evals_result: dict = {}

    class Progress(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):
            if (epoch + 1) % params["report_every"] == 0:
                log(f"[xgboost] round {epoch + 1}: validation pinball {evals_log['validation']['quantile'][-1]:.4f}")
            return False

    booster = xgb.train(booster_params(params, seed), dtrain, num_boost_round=params["num_boost_round"],
                        evals=[(dval, "validation")], early_stopping_rounds=params["early_stopping_rounds"],
                        evals_result=evals_result, verbose_eval=False, callbacks=[Progress()])
    booster = booster[: booster.best_iteration + 1]
    curve = evals_result["validation"]["quantile"]
    history = [{"round": i + 1, "val_loss": v} for i, v in enumerate(curve) if (i + 1) % params["report_every"] == 0]
    member = XGBoostMember(booster)
    return FitOutcome(member, scaled_pinball(member, data.validation), history)


def _fit_torch_local(name: str, params: dict, data: TrainingData, seed: int, scaling: ScalingSpec,
                     log: Callable[[str], None]) -> FitOutcome:
    norm = Normaliser.fit(data.train)
    arch = torch_arch(name, params, data)
    use_gpu = scaling.use_gpu == "true" or (scaling.use_gpu == "auto" and torch.cuda.is_available())
    session = LocalSession(torch.device("cuda" if use_gpu else "cpu"), log)
    config = {"name": name, "params": params, "arch": arch, "seed": seed}
    out = train_sequence_member(config, norm.tensors(data.train), norm.tensors(data.validation), session)
    member = TorchMember(name, arch, out["state_dict"], norm)
    return FitOutcome(member, scaled_pinball(member, data.validation), out["history"])


def fit_member(name: str, params: dict, data: TrainingData, *, scaling: ScalingSpec, distributed: bool = True,
               run_dir: Path | None = None, seed: int = 7, log: Callable[[str], None] = print) -> FitOutcome:
    """Fit member ``name`` with ``params`` (validated against its params model) on ``data``."""
    params = PARAMS_MODELS[name].model_validate(params).model_dump()
    if distributed:
        from training.ray_fit import fit_member_ray

        return fit_member_ray(name, params, data, scaling=scaling, run_dir=run_dir, seed=seed, log=log)
    if name == "xgboost":
        return _fit_xgboost_local(params, data, seed, log)
    return _fit_torch_local(name, params, data, seed, scaling, log)


def fit_member_per_city(name: str, params: dict, data: TrainingData, **kwargs) -> FitOutcome:
    """``global_model: false``: one fit per city on that city's samples, routed by city at predict time."""
    by_city, history, losses = {}, [], []
    for city in data.cities:
        sub = data.subset(city)
        outcome = fit_member(name, params, sub, **kwargs)
        by_city[city] = outcome.member
        history += [{**h, "city": city} for h in outcome.history]
        losses.append(outcome.validation_pinball)
    return FitOutcome(PerCityMember(name, by_city), float(np.mean(losses)), history)
