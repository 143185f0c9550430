"""XGBoost member: one multi-quantile model over (issue time, step) rows.

Choice: XGBoost 3's ``reg:quantileerror`` with ``quantile_alpha=[0.1, 0.5, 0.9]`` trains
one model whose trees share structure across the three quantiles, instead of three
separate models: a third of the training time and one artifact. Each row is one horizon
step of one issue time, so the same model serves any horizon up to the trained one.
The target is the scaled load minus the level of the last day before the issue time,
which keeps trees (that cannot extrapolate) valid as demand grows.

On Ray Train: ``ray.train.xgboost.XGBoostTrainer``, not ``xgboost-ray`` (abandoned, broken
with XGBoost 3); it wraps each worker's plain ``xgboost.train`` in XGBoost's own
collective, so histograms are all-reduced across workers over Ray Data shards. Both the
in-process and the Ray Train fit run the one boosting loop, ``boost``. Trap avoided: Ray's
``RayTrainReportCallback`` reports after every round, which cost ~2 s a round on 20k rows;
workers log every ``report_every`` rounds and report once, with the model, at the end.
Inside a Tune trial they also report the metrics of every ``report_every`` chunk (what
ASHA reads); elsewhere not, since each ``ray.train.report`` costs about 1.6 s here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import xgboost as xgb
from pydantic import Field

from training.api import QUANTILES
from training.features.grid import Samples
from training.members.common import scaled_pinball, to_mw
from training.members.params import MemberParams, TuneRange
from training.members.spec import EpochHook, FitContext, FitData, FitOutcome, MemberSpec

MODEL_FILE = "model.ubj"


class XGBoostParams(MemberParams):
    num_boost_round: Annotated[int, TuneRange(50, 1500, log=True)] = Field(400, description="Boosting rounds (early stopping on validation may stop sooner).")
    max_depth: Annotated[int, TuneRange(3, 10)] = Field(7, description="Tree depth.")
    eta: Annotated[float, TuneRange(0.01, 0.3, log=True)] = Field(0.08, description="Learning rate.")
    subsample: Annotated[float, TuneRange(0.5, 1.0)] = Field(0.8, description="Row subsample per tree.")
    colsample_bytree: Annotated[float, TuneRange(0.4, 1.0)] = Field(0.8, description="Feature subsample per tree.")
    min_child_weight: Annotated[float, TuneRange(1.0, 50.0, log=True)] = Field(5.0, description="Minimum hessian per leaf.")
    early_stopping_rounds: int = Field(40, ge=1, description="Stop when validation pinball has not improved this many rounds.")
    report_every: int = Field(50, ge=1, description="Report progress every N rounds (a per-round Ray report costs ~2 s a round).")


def _flatten(future: np.ndarray, y: np.ndarray, ymask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """One row per (issue time, step); with a ``ymask``, only the rows whose target is usable."""
    n, h, f = future.shape
    x, y = future.reshape(n * h, f), y.reshape(n * h)
    if ymask is None:
        return x, y
    keep = np.asarray(ymask, bool).reshape(n * h)
    return x[keep], y[keep]


def flatten(samples: Samples, only_targets: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(rows, F) features and (rows,) targets; with ``only_targets`` drop masked targets."""
    return _flatten(samples.future, samples.y, samples.ymask if only_targets else None)


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


def progress_line(round_number: int, val_loss: float) -> str:
    return f"[xgboost] round {round_number}: validation pinball {val_loss:.4f}"


def boost(booster: dict, params: dict, dtrain: xgb.DMatrix, dval: xgb.DMatrix, *,
          report: Callable[[int, float], None], epoch_hook: EpochHook | None = None) -> tuple[xgb.Booster, list[float]]:
    """The boosting loop of every XGBoost fit: early stopping on validation pinball, ``report(round, loss)``
    every ``report_every`` rounds. Returns the booster cut at its best round, and the validation curve."""
    every = params["report_every"]

    class Progress(xgb.callback.TrainingCallback):
        def before_iteration(self, model, epoch, evals_log):
            if epoch_hook is not None and epoch % every == 0:
                epoch_hook(epoch // every)
            return False

        def after_iteration(self, model, epoch, evals_log):
            if (epoch + 1) % every == 0:
                report(epoch + 1, evals_log["validation"]["quantile"][-1])
            return False

    evals_result: dict = {}
    # Early stopping that could never trigger (the final refit's fixed rounds) is off: every round is kept.
    stopping = params["early_stopping_rounds"] if params["early_stopping_rounds"] <= params["num_boost_round"] else None
    model = xgb.train(booster, dtrain, num_boost_round=params["num_boost_round"], evals=[(dval, "validation")],
                      early_stopping_rounds=stopping, evals_result=evals_result, verbose_eval=False, callbacks=[Progress()])
    kept = model[: model.best_iteration + 1] if stopping is not None else model
    return kept, [float(v) for v in evals_result["validation"]["quantile"]]


def _selected(booster: xgb.Booster) -> dict[str, Any]:
    """The rounds early stopping kept, to boost exactly as many on all data (no early stopping there)."""
    rounds = booster.num_boosted_rounds()
    return {"num_boost_round": rounds, "early_stopping_rounds": rounds + 1}


def _history(curve: list[float], every: int) -> list[dict]:
    return [{"round": i + 1, "val_loss": v} for i, v in enumerate(curve) if (i + 1) % every == 0]


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
        self.booster.save_model(str(folder / MODEL_FILE))

    @classmethod
    def load(cls, folder: Path) -> "XGBoostMember":
        booster = xgb.Booster()
        booster.load_model(str(folder / MODEL_FILE))
        # A model boosted on a GPU worker keeps device=cuda in its config; serving predicts on CPU.
        booster.set_param({"nthread": 1, "device": "cpu"})
        return cls(booster)


# -- in-process ----------------------------------------------------------------------------
def fit_local(params: dict[str, Any], data: FitData, ctx: FitContext) -> FitOutcome:
    x, y = flatten(data.train)
    xv, yv = flatten(data.validation)
    dtrain = xgb.QuantileDMatrix(x, y)
    dval = xgb.QuantileDMatrix(xv, yv, ref=dtrain)
    booster, curve = boost(booster_params(params, ctx.seed), params, dtrain, dval,
                           report=lambda r, loss: ctx.log(progress_line(r, loss)), epoch_hook=ctx.epoch_hook)
    member = XGBoostMember(booster)
    return FitOutcome(member, scaled_pinball(member, data.validation), _history(curve, params["report_every"]),
                      _selected(booster))


# -- Ray Train -----------------------------------------------------------------------------
def flatten_rows(batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``flatten`` for a batch of sample rows (``training.datasets``), as float32."""
    x, y = _flatten(np.asarray(batch["future"]), np.asarray(batch["y"]), batch["ymask"])
    return x.astype(np.float32, copy=False), y.astype(np.float32, copy=False)


class _ShardBatches(xgb.DataIter):
    """A worker's Dataset shard as XGBoost batches: the QuantileDMatrix is sketched batch by
    batch, so a worker never holds its sample rows and the flattened matrix at once."""

    def __init__(self, shard, batch_size: int = 256) -> None:
        self.shard, self.batch_size, self._batches = shard, batch_size, None
        super().__init__(cache_prefix=None)

    def reset(self) -> None:
        self._batches = None

    def next(self, input_data) -> bool:
        if self._batches is None:
            self._batches = iter(self.shard.iter_batches(batch_size=self.batch_size, batch_format="numpy"))
        for batch in self._batches:
            x, y = flatten_rows(batch)
            if len(y):
                input_data(data=x, label=y)
                return True
        return False


def _ray_worker(config: dict) -> None:
    import ray.train

    rank = ray.train.get_context().get_world_rank()
    dtrain = xgb.QuantileDMatrix(_ShardBatches(ray.train.get_dataset_shard("train")))
    dval = xgb.QuantileDMatrix(_ShardBatches(ray.train.get_dataset_shard("validation")), ref=dtrain)

    def report(round_number: int, loss: float) -> None:
        if rank == 0:
            print(progress_line(round_number, loss), flush=True)
        if config["chunk_reports"]:  # a Tune trial's: each is a Tune result; every rank reports, as Ray Train needs
            ray.train.report({"val_loss": float(loss), "round": round_number})

    booster, curve = boost(config["booster"], config["params"], dtrain, dval,
                           report=report, epoch_hook=config.get("epoch_hook"))
    metrics = {"val_loss": float(min(curve)), "rounds": len(curve), "curve": curve}
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if rank == 0:
            booster.save_model(str(Path(folder) / MODEL_FILE))
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report(metrics, checkpoint=checkpoint)


def fit_ray(params: dict[str, Any], data: FitData, ctx: FitContext) -> FitOutcome:
    """XGBoostTrainer over the train and validation splits as Datasets: each worker boosts
    on its shard and XGBoost's collective all-reduces the histograms."""
    from ray.train.xgboost import XGBoostTrainer

    from training.ray_train import resolve_use_gpu, run_config, scaling_config

    scaling = ctx.scaling
    # Materialized before the worker group starts: workers holding every CPU of a small
    # cluster would leave no room for the tasks that produce the rows, and wait forever.
    datasets = {"train": data.dataset("train").materialize(), "validation": data.dataset("validation").materialize()}
    device = "cuda" if resolve_use_gpu(scaling.use_gpu) else "cpu"
    loop_config = {"booster": booster_params(params, ctx.seed, max(1, int(scaling.cpus_per_worker)), device=device),
                   "params": params, "epoch_hook": ctx.epoch_hook, "chunk_reports": ctx.in_tune_trial}
    run = run_config("xgboost", ctx)
    ctx.log(f"[xgboost] Ray Train: {scaling.workers} workers, {data.count('train')} training issue times")
    trainer = XGBoostTrainer(_ray_worker, train_loop_config=loop_config, scaling_config=scaling_config(scaling),
                             run_config=run, datasets=datasets)
    result = trainer.fit()
    with result.checkpoint.as_directory() as folder:
        member = XGBoostMember.load(Path(folder))
    history = _history(result.metrics["curve"], params["report_every"])
    for entry in history:
        ctx.log(progress_line(entry["round"], entry["val_loss"]))
    return FitOutcome(member, data.validation_pinball(member), history, _selected(member.booster))


SPEC = MemberSpec(
    name="xgboost", params=XGBoostParams, kind="booster", fit_local=fit_local, fit_ray=fit_ray, load=XGBoostMember.load,
    deployment="XGBoost", progress_reports=lambda p: -(-p["num_boost_round"] // p["report_every"]) + 1,
    description="Gradient-boosted trees, one multi-quantile model over (issue time, step) rows.",
)
