"""Member fits on Ray Train: XGBoost with ``XGBoostTrainer``, LSTM/Transformer with ``TorchTrainer``.

Why ``ray.train.xgboost.XGBoostTrainer`` and not ``xgboost-ray``: xgboost-ray is
abandoned and does not work with XGBoost 3; Ray Train's trainer wraps the plain
``xgboost.train`` call of each worker in XGBoost's own collective (rabit) context, so
histograms are all-reduced across workers over Ray Data shards.

Trap avoided: Ray's ``RayTrainReportCallback`` calls ``ray.train.report`` after every
boosting round, which here cost ~2 s a round on 20k rows (65 ms without). Workers log
progress every ``report_every`` rounds and report once, with the model, at the end.

The torch fits use DDP (``prepare_model``/``prepare_data_loader``), a checkpoint every
epoch and ``FailureConfig(max_failures)``: a worker that dies restarts the group, which
resumes from ``ray.train.get_checkpoint()``. Nothing here calls ``ray.init``; inside a
Tune trial or a Ray task the surrounding cluster is used.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import ray
import torch
import xgboost as xgb
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig

from training.config import ScalingSpec
from training.data_prep import TrainingData
from training.members.torch_loop import _line, train_sequence_member
from training.members.torch_member import Normaliser, TorchMember
from training.members.xgboost_member import XGBoostMember, booster_params, flatten

MODEL_FILE = "model.ubj"
STATE_FILE = "state.pt"


def resolve_use_gpu(use_gpu: str) -> bool:
    """auto: a GPU if the cluster has one."""
    if use_gpu == "auto":
        return ray.is_initialized() and ray.cluster_resources().get("GPU", 0) > 0
    return use_gpu == "true"


def _scaling(scaling: ScalingSpec) -> ScalingConfig:
    use_gpu = resolve_use_gpu(scaling.use_gpu)
    resources = {"CPU": scaling.cpus_per_worker}
    if use_gpu:
        resources["GPU"] = 1
    return ScalingConfig(num_workers=scaling.workers, use_gpu=use_gpu, resources_per_worker=resources)


def _run_config(name: str, scaling: ScalingSpec, run_dir: Path | None) -> tuple[RunConfig, Path]:
    root = Path(scaling.storage_path or (run_dir or Path(tempfile.gettempdir()) / "efp_ray_results")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    run_name = f"{name}-{uuid.uuid4().hex[:8]}"
    config = RunConfig(
        name=run_name, storage_path=str(root), failure_config=FailureConfig(max_failures=scaling.max_failures),
        checkpoint_config=CheckpointConfig(num_to_keep=2),
    )
    return config, root / run_name


# -- XGBoost -------------------------------------------------------------------------------
def _frame(x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    frame["label"] = y
    return frame


def _xgb_worker(config: dict) -> None:
    import ray.train

    context = ray.train.get_context()
    rank = context.get_world_rank()

    def matrix(name: str) -> xgb.DMatrix:
        frame = ray.train.get_dataset_shard(name).materialize().to_pandas()
        return xgb.DMatrix(frame.drop(columns=["label"]).to_numpy(np.float32), frame["label"].to_numpy(np.float32))

    dtrain, dval = matrix("train"), matrix("validation")
    every = config["report_every"]

    class Progress(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):
            if rank == 0 and (epoch + 1) % every == 0:
                print(f"[xgboost] round {epoch + 1}: validation pinball {evals_log['validation']['quantile'][-1]:.4f}", flush=True)
            return False

    evals_result: dict = {}
    booster = xgb.train(config["booster"], dtrain, num_boost_round=config["rounds"], evals=[(dval, "validation")],
                        early_stopping_rounds=config["early_stopping"], evals_result=evals_result,
                        verbose_eval=False, callbacks=[Progress()])
    curve = evals_result["validation"]["quantile"]
    metrics = {"best_iteration": int(booster.best_iteration), "val_loss": float(min(curve)), "rounds": len(curve),
               "curve": [float(v) for i, v in enumerate(curve) if (i + 1) % every == 0]}
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if rank == 0:
            booster[: booster.best_iteration + 1].save_model(str(Path(folder) / MODEL_FILE))
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report(metrics, checkpoint=checkpoint)


def fit_xgboost_ray(params: dict, data: TrainingData, scaling: ScalingSpec, run_dir: Path | None, seed: int,
                    log: Callable[[str], None]):
    from ray.train.xgboost import XGBoostTrainer

    from training.fitting import FitOutcome, scaled_pinball

    x, y = flatten(data.train)
    xv, yv = flatten(data.validation)
    datasets = {"train": ray.data.from_pandas(_frame(x, y)), "validation": ray.data.from_pandas(_frame(xv, yv))}
    nthread = max(1, int(scaling.cpus_per_worker))
    device = "cuda" if resolve_use_gpu(scaling.use_gpu) else "cpu"
    loop_config = {"booster": booster_params(params, seed, nthread, device=device), "rounds": params["num_boost_round"],
                   "early_stopping": params["early_stopping_rounds"], "report_every": params["report_every"]}
    run_config, _ = _run_config("xgboost", scaling, run_dir)
    log(f"[xgboost] Ray Train: {scaling.workers} workers, {len(y)} rows")
    trainer = XGBoostTrainer(_xgb_worker, train_loop_config=loop_config, scaling_config=_scaling(scaling),
                             run_config=run_config, datasets=datasets)
    result = trainer.fit()
    with result.checkpoint.as_directory() as folder:
        booster = xgb.Booster()
        booster.load_model(str(Path(folder) / MODEL_FILE))
    member = XGBoostMember(booster)
    history = [{"round": (i + 1) * params["report_every"], "val_loss": v} for i, v in enumerate(result.metrics["curve"])]
    for entry in history:
        log(f"[xgboost] round {entry['round']}: validation pinball {entry['val_loss']:.4f}")
    return FitOutcome(member, scaled_pinball(member, data.validation), history)


# -- PyTorch -------------------------------------------------------------------------------
class RaySession:
    """The torch loop's session on a Ray Train worker: DDP, a checkpoint every epoch, resume."""

    def __init__(self) -> None:
        import ray.train.torch

        self.device = ray.train.torch.get_device()
        self.rank = ray.train.get_context().get_world_rank()

    def wrap_model(self, model):
        import ray.train.torch

        return ray.train.torch.prepare_model(model)

    def wrap_loader(self, loader):
        import ray.train.torch

        return ray.train.torch.prepare_data_loader(loader)

    def resume_state(self):
        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as folder:
            return torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=False)

    def report(self, metrics, state):
        with tempfile.TemporaryDirectory() as folder:
            checkpoint = None
            if self.rank == 0:
                torch.save(state, Path(folder) / STATE_FILE)
                checkpoint = ray.train.Checkpoint.from_directory(folder)
                print(_line(metrics), flush=True)
            ray.train.report({k: v for k, v in metrics.items() if k != "member"}, checkpoint=checkpoint)


def _torch_worker(config: dict) -> None:
    train, val = ray.get(config.pop("train_ref")), ray.get(config.pop("val_ref"))
    train_sequence_member(config, train, val, RaySession())


def fit_torch_ray(name: str, params: dict, data: TrainingData, scaling: ScalingSpec, run_dir: Path | None, seed: int,
                  log: Callable[[str], None]):
    from ray.train.torch import TorchTrainer

    from training.fitting import FitOutcome, scaled_pinball, torch_arch

    norm = Normaliser.fit(data.train)
    arch = torch_arch(name, params, data)
    run_config, run_path = _run_config(name, scaling, run_dir)
    loop_config = {
        "name": name, "params": params, "arch": arch, "seed": seed,
        "train_ref": ray.put(norm.tensors(data.train)), "val_ref": ray.put(norm.tensors(data.validation)),
        "fail_at_epoch": scaling.test_fail_at_epoch, "marker": str(run_path / "injected_failure"),
    }
    log(f"[{name}] Ray Train: {scaling.workers} workers, {len(data.train)} training samples")
    trainer = TorchTrainer(_torch_worker, train_loop_config=loop_config, scaling_config=_scaling(scaling), run_config=run_config)
    result = trainer.fit()
    with result.checkpoint.as_directory() as folder:
        state = torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=False)
    for entry in state["history"]:
        log(_line(entry))
    final = state["best_state"] or state["model"]
    member = TorchMember(name, arch, final, norm)
    return FitOutcome(member, scaled_pinball(member, data.validation), state["history"])


def fit_member_ray(name: str, params: dict, data: TrainingData, *, scaling: ScalingSpec, run_dir: Path | None,
                   seed: int, log: Callable[[str], None]):
    if name == "xgboost":
        return fit_xgboost_ray(params, data, scaling, run_dir, seed, log)
    return fit_torch_ray(name, params, data, scaling, run_dir, seed, log)
