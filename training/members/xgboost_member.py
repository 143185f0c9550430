"""XGBoost member: one multi-quantile model over (issue time, step) rows.

Choice: XGBoost 3's ``reg:quantileerror`` with ``quantile_alpha=[0.1, 0.5, 0.9]`` trains
one model whose trees share structure across the three quantiles, instead of three
separate models: a third of the training time and one artifact. Each row is one horizon
step of one issue time, so the same model serves any horizon up to the trained one.
The target is the scaled load minus the level of the last day before the issue time,
which keeps trees (that cannot extrapolate) valid as demand grows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xgboost as xgb

from training.api import QUANTILES
from training.features.grid import Samples
from training.members.common import to_mw


def flatten(samples: Samples, only_targets: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(rows, F) features and (rows,) targets; with ``only_targets`` drop masked targets."""
    n, h, f = samples.future.shape
    x = samples.future.reshape(n * h, f)
    y = samples.y.reshape(n * h)
    if only_targets:
        keep = samples.ymask.reshape(n * h)
        return x[keep], y[keep]
    return x, y


def booster_params(params: dict, seed: int, nthread: int | None = None, *, device: str = "cpu") -> dict:
    """Booster parameters; ``device="cuda"`` on a GPU worker (Ray Train has already narrowed
    CUDA_VISIBLE_DEVICES to that worker's GPU, so plain "cuda" is the right one)."""
    out = {
        "objective": "reg:quantileerror", "quantile_alpha": list(QUANTILES), "tree_method": "hist", "device": device,
        "max_depth": params["max_depth"], "eta": params["eta"], "subsample": params["subsample"],
        "colsample_bytree": params["colsample_bytree"], "min_child_weight": params["min_child_weight"],
        "seed": seed, "eval_metric": "quantile",
    }
    if nthread:
        out["nthread"] = nthread
    return out


class XGBoostMember:
    """Implements ``training.api.Member`` around a trained Booster."""

    name = "xgboost"

    def __init__(self, booster: xgb.Booster) -> None:
        self.booster = booster

    def predict_samples(self, samples: Samples) -> np.ndarray:
        n, h, _ = samples.future.shape
        x, _ = flatten(samples, only_targets=False)
        raw = self.booster.inplace_predict(x).reshape(n, h, len(QUANTILES))
        return to_mw(raw, samples)

    def predict(self, batch: list) -> list[np.ndarray]:
        if not batch:
            return []
        samples = Samples.concat([fs.samples for fs in batch])
        out = self.predict_samples(samples)
        return [out[i, : fs.horizon] for i, fs in enumerate(batch)]

    def save(self, folder: Path) -> None:
        self.booster.save_model(str(folder / "model.ubj"))

    @classmethod
    def load(cls, folder: Path) -> "XGBoostMember":
        booster = xgb.Booster()
        booster.load_model(str(folder / "model.ubj"))
        # A model boosted on a GPU worker keeps device=cuda in its config; serving predicts on CPU.
        booster.set_param({"nthread": 1, "device": "cpu"})
        return cls(booster)
