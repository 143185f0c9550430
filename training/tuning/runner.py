"""Ray Tune sweep of one member: Optuna proposes, ASHA stops poor trials early.

Each trial runs the member's Ray Train fit (``training.tuning.trainable``): the trial's
process reserves almost nothing, its Train workers ``workers x cpus_per_worker`` of the
space, and a ConcurrencyLimiter lets only as many trials run at once as the cluster holds
(one on 2 cores), so no trial waits on CPUs another trial's driver holds. Results and
checkpoints go to the configured Ray storage (``ray_storage_uri``: a folder or S3). The
training data is prepared once and shared with every trial through the object store. The
best trial's parameters (searched and fixed over the member's defaults) are written as a
partial training YAML that ``efp train --config`` merges and validates.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from data.errors import PlatformError
from data.settings import PlatformSettings
from training.config import TrainConfig, load_train_config
from training.data_prep import TrainingData, prepare_training_data
from training.members.registry import member_names
from training.ray_train import ray_storage
from training.scaling import ScalingSpec
from training.tuning.space import TuneSpace, load_space
from training.tuning.trainable import METRIC, TRIAL_CPUS, run_trial


class TuneError(PlatformError):
    exit_code = 2


class TuneResult(BaseModel):
    model: str
    samples: int
    metric: str
    best_params: dict[str, Any]
    best_val_loss: float
    best_config_path: Path
    results_uri: str  # the sweep in the Ray storage: Tune's results, each trial's Train run, best-<model>.yaml
    trials: list[dict[str, Any]]


def _recording_asha(**options: Any) -> Any:
    """Tune's ASHA scheduler, recording which trials it stopped before ``max_t``: the trial table's
    "stopped early" is ASHA's own decision, not a guess from what a trial's results left out."""
    from ray.tune.schedulers import ASHAScheduler

    class RecordingASHA(ASHAScheduler):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.stopped_early: set[str] = set()

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
            decision = super().on_trial_result(tune_controller, trial, result)
            if decision == self.STOP and result.get(self._time_attr, 0) < self._max_t:
                self.stopped_early.add(trial.trial_id)
            return decision

    return RecordingASHA(**options)


def _trial_rows(grid: Any, space: TuneSpace, stopped_early: set[str]) -> list[dict[str, Any]]:
    rows = []
    for result in grid:
        frame = result.metrics_dataframe
        losses = frame[METRIC].dropna() if frame is not None and METRIC in frame else []
        trial_id = (result.metrics or {}).get("trial_id", "?")
        row: dict[str, Any] = {"trial": trial_id}
        row.update({name: result.config.get(name) for name in space.params})
        row["val_loss"] = float(min(losses)) if len(losses) else None
        row["reports"] = int(len(losses))
        row["status"] = "error" if result.error else ("stopped early" if trial_id in stopped_early else "complete")
        rows.append(row)
    return sorted(rows, key=lambda r: (r["val_loss"] is None, r["val_loss"] or 0.0))


def trial_resources(space: TuneSpace, scaling: ScalingSpec) -> tuple[ScalingSpec, int]:
    """The Train scaling of every trial and how many trials fit the cluster at once.

    Ray Train starts a run only when all its workers' resources are free, and a worker sits
    on one node: the count is the worker slots the nodes hold (``cpus_per_worker`` each),
    divided by the workers a trial needs. More trials would only wait in Tune's queue."""
    import ray

    from training.ray_train import resolve_use_gpu

    trial_scaling = scaling.model_copy(update={"workers": space.workers, "cpus_per_worker": space.cpus_per_worker})
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    cpus = sum(float(node.get("CPU", 0.0)) for node in nodes)
    slots = sum(int(float(node.get("CPU", 0.0)) // space.cpus_per_worker) for node in nodes)
    concurrent = min(int(cpus // (space.workers * space.cpus_per_worker + TRIAL_CPUS)), slots // space.workers)
    if resolve_use_gpu(trial_scaling.use_gpu):
        concurrent = min(concurrent, int(sum(float(node.get("GPU", 0.0)) for node in nodes) // space.workers))
    if concurrent < 1:
        raise TuneError(f"a {space.model} trial needs {space.workers} Train workers of {space.cpus_per_worker:g} CPUs"
                        f"{' and a GPU' if resolve_use_gpu(trial_scaling.use_gpu) else ''} each, plus {TRIAL_CPUS:g} for "
                        f"its driver; the cluster ({cpus:g} CPUs) holds {slots} such workers: lower workers or "
                        "cpus_per_worker in the search space")
    return trial_scaling, concurrent


def write_best_config(path: Path, model: str, params: dict[str, Any]) -> Path:
    """A partial training YAML (only ``members.<model>``) that ``load_train_config`` merges and checks."""
    clean = {k: (v.item() if hasattr(v, "item") else v) for k, v in params.items()}
    body = {"members": {model: clean}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# Best {model} configuration from a Ray Tune sweep; use with `efp train --config {path}`.\n"
        + yaml.safe_dump(body, sort_keys=True),
        encoding="utf-8",
    )
    load_train_config(path)  # what efp train will do: fails here, not later, if it does not validate
    return path


def run_tune(
    settings: PlatformSettings,
    model: str,
    samples: int,
    *,
    cities: list[str] | None = None,
    until: date | datetime | None = None,
    space_file: Path | None = None,
    base_config: TrainConfig | None = None,
    data: TrainingData | None = None,
    log: Callable[[str], None] = print,
) -> TuneResult:
    import ray
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    if model not in member_names():
        raise TuneError(f"--model must be one of {', '.join(member_names())}, not '{model}'")
    space = load_space(model, space_file)
    config = base_config or load_train_config()
    if not ray.is_initialized():
        raise TuneError("Ray is not running: start it first (efp tune and python -m ray_apps.tune do)")
    storage = ray_storage(settings)
    scaling, concurrent = trial_resources(space, config.scaling)
    if data is None:
        from data.stores import open_store

        codes = cities or open_store(settings).cities()
        until_day = until.date() if isinstance(until, datetime) else until
        log(f"preparing training data for {', '.join(codes) or 'no city'}")
        # Trials choose on the validation window: the ensemble's earlier folds are neither prepared nor need history.
        single_fold = config.model_copy(update={"split": config.split.model_copy(update={"cv_folds": 1})})
        data = prepare_training_data(settings, single_fold, codes, until_day)
    base_params = {**config.member_params(model), **space.fixed}
    max_t = space.max_reports(base_params)
    log(f"tuning {model}: {samples} trials on Ray Train ({scaling.workers} x {scaling.cpus_per_worker:g} CPUs each), "
        f"{concurrent} at a time, ASHA max {max_t} reports, results in {storage.uri}")

    trainable = tune.with_resources(
        tune.with_parameters(run_trial, data=data, model=model, base_params=base_params, seed=config.seed,
                             scaling=scaling, storage=storage),
        {"cpu": TRIAL_CPUS},
    )
    searcher = ConcurrencyLimiter(OptunaSearch(seed=config.seed, points_to_evaluate=space.start or None),
                                  max_concurrent=concurrent)
    scheduler = _recording_asha(time_attr="training_iteration", max_t=max_t, grace_period=space.asha.grace_period,
                                reduction_factor=space.asha.reduction_factor)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    sweep = f"tune-{model}-{stamp}"
    tuner = tune.Tuner(
        trainable,
        param_space=space.param_space(),
        tune_config=tune.TuneConfig(metric=METRIC, mode="min", search_alg=searcher, scheduler=scheduler, num_samples=samples),
        run_config=tune.RunConfig(name=sweep, verbose=0, **storage.run_kwargs()),
    )
    grid = tuner.fit()
    rows = _trial_rows(grid, space, scheduler.stopped_early)
    if all(row["val_loss"] is None for row in rows):
        first_error = next((str(r.error).splitlines()[0] for r in grid if r.error), "no trial reported a loss")
        raise TuneError(f"every {model} trial failed: {first_error}")
    best = grid.get_best_result(metric=METRIC, mode="min", scope="all")
    best_params = {**base_params, **{k: best.config[k] for k in space.params}}
    path = write_best_config(settings.data_dir / "tune" / f"best-{model}-{stamp}.yaml", model, best_params)
    results = storage.child(sweep)
    results.write_text(f"best-{model}.yaml", path.read_text(encoding="utf-8"))  # outlives a RayJob's cluster
    best_loss = next(row["val_loss"] for row in rows if row["val_loss"] is not None)
    return TuneResult(
        model=model, samples=samples, metric=METRIC, best_params=best_params, best_val_loss=best_loss,
        best_config_path=path, results_uri=results.uri, trials=rows,
    )
