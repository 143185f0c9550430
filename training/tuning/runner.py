"""Ray Tune sweep of one member: Optuna proposes, ASHA stops poor trials early.

Trials are sized to the cluster: each reserves ``cpus_per_trial`` CPUs (fractional; at
most the cluster's), and a ConcurrencyLimiter lets only as many run at once as fit (one
on 2 cores). The training data is prepared once and shared with every trial through the
object store. The best trial's parameters (searched and fixed over the member's defaults)
are written as a partial training YAML that ``efp train --config`` merges and validates.
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
from training.tuning.space import TuneSpace, load_space
from training.tuning.trainable import METRIC, run_trial


class TuneError(PlatformError):
    exit_code = 2


class TuneResult(BaseModel):
    model: str
    samples: int
    metric: str
    best_params: dict[str, Any]
    best_val_loss: float
    best_config_path: Path
    trials: list[dict[str, Any]]


def _trial_rows(grid: Any, space: TuneSpace) -> list[dict[str, Any]]:
    rows = []
    for result in grid:
        frame = result.metrics_dataframe
        losses = frame[METRIC].dropna() if frame is not None and METRIC in frame else []
        row: dict[str, Any] = {"trial": (result.metrics or {}).get("trial_id", "?")}
        row.update({name: result.config.get(name) for name in space.params})
        row["val_loss"] = float(min(losses)) if len(losses) else None
        row["reports"] = int(len(losses))
        row["status"] = "error" if result.error else ("stopped early" if "validation_pinball" not in (result.metrics or {}) else "complete")
        rows.append(row)
    return sorted(rows, key=lambda r: (r["val_loss"] is None, r["val_loss"] or 0.0))


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
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    if model not in member_names():
        raise TuneError(f"--model must be one of {', '.join(member_names())}, not '{model}'")
    space = load_space(model, space_file)
    config = base_config or load_train_config()
    if data is None:
        from data.stores import open_store

        codes = cities or open_store(settings).cities()
        until_day = until.date() if isinstance(until, datetime) else until
        log(f"preparing training data for {', '.join(codes) or 'no city'}")
        data = prepare_training_data(settings, config, codes, until_day)
    if not ray.is_initialized():
        raise TuneError("Ray is not running: start it first (efp tune and python -m ray_apps.tune do)")
    cluster_cpus = float(ray.cluster_resources().get("CPU", 1.0))
    cpus = min(space.cpus_per_trial, cluster_cpus)
    concurrent = max(1, int(cluster_cpus // cpus))
    base_params = {**config.member_params(model), **space.fixed}
    log(f"tuning {model}: {samples} trials, {cpus:g} CPUs each, {concurrent} at a time, ASHA max {space.max_reports(base_params)} reports")

    trainable = tune.with_resources(
        tune.with_parameters(run_trial, data=data, model=model, base_params=base_params, seed=config.seed, cpus=cpus),
        {"cpu": cpus},
    )
    searcher = ConcurrencyLimiter(OptunaSearch(seed=config.seed), max_concurrent=concurrent)
    scheduler = ASHAScheduler(
        time_attr="training_iteration",
        max_t=space.max_reports(base_params),
        grace_period=space.asha.grace_period,
        reduction_factor=space.asha.reduction_factor,
    )
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    tuner = tune.Tuner(
        trainable,
        param_space=space.param_space(),
        tune_config=tune.TuneConfig(metric=METRIC, mode="min", search_alg=searcher, scheduler=scheduler, num_samples=samples),
        run_config=tune.RunConfig(name=f"tune-{model}-{stamp}", storage_path=str(settings.data_dir / "ray_results"), verbose=0),
    )
    grid = tuner.fit()
    rows = _trial_rows(grid, space)
    if all(row["val_loss"] is None for row in rows):
        first_error = next((str(r.error).splitlines()[0] for r in grid if r.error), "no trial reported a loss")
        raise TuneError(f"every {model} trial failed: {first_error}")
    best = grid.get_best_result(metric=METRIC, mode="min", scope="all")
    best_params = {**base_params, **{k: best.config[k] for k in space.params}}
    path = write_best_config(settings.data_dir / "tune" / f"best-{model}-{stamp}.yaml", model, best_params)
    best_loss = next(row["val_loss"] for row in rows if row["val_loss"] is not None)
    return TuneResult(
        model=model, samples=samples, metric=METRIC, best_params=best_params, best_val_loss=best_loss,
        best_config_path=path, trials=rows,
    )
