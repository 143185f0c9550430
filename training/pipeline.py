"""The training pipeline: clean -> features -> time-ordered split -> members -> ensemble
-> test evaluation -> registry. One progress line per stage, epoch and boosting chunk.

``distributed=True`` (default) fits each member on Ray Train; ``False`` fits the same
members in this process (tiny bundles in tests, the single-process benchmark baseline).
"""

from __future__ import annotations

import subprocess  # nosec B404: runs only `git rev-parse HEAD`, a fixed argument list
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from data.errors import PlatformError
from data.settings import REPO_ROOT, PlatformSettings
from training.assemble import assemble_bundle
from training.config import TrainConfig, TrainingConfigError, parse_config
from training.data_prep import fold_windows, prepare_training_data
from training.evaluation import evaluate_folds, evaluate_test
from training.fitting import fit_member, fit_member_per_city
from training.prepared import SplitForecast
from training.ray_train import RayStorage, ray_storage


class TrainingFailedError(PlatformError):
    """No member could be trained; the message carries each member's reason."""


class TrainReport(BaseModel):
    """What a training run did (``efp train --json`` prints this)."""

    version: str
    cities: list[str]
    models: list[str]
    failed_members: dict[str, str] = Field(default_factory=dict, description="Member -> why it was left out.")
    resolution_minutes: int
    horizon_steps: int
    windows: dict[str, datetime] = Field(description="train_start, the earlier folds' cv<j>_train_end and cv<j>_start, validation_start, test_start, end (UTC).")
    samples: dict[str, int]
    validation_pinball: dict[str, float]
    selected: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Member -> the rounds/epochs selection chose (the final refit uses them).")
    weights: dict[str, list[dict[str, float]]]
    metrics: dict[str, dict[str, dict[str, float]]] = Field(description="{city|all: {forecaster: {metric: value}}}: cross-validated on the test window, before the final refit.")
    cv_metrics: dict[str, dict[str, dict[str, float]]] = Field(default_factory=dict, description="{window: {forecaster: {metric: value}}}: each rolling-origin fold (test, cv1, ...) at lead 0, cities averaged, before the final refit.")
    registered: bool
    bundle_dir: str | None
    distributed: bool
    feature_schema_hash: str
    git_commit: str | None
    duration_s: float


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)  # nosec B603 B607: fixed argv, no shell; git from PATH like any tool
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def effective_config(config: TrainConfig, *, models=None, workers=None, use_gpu=None) -> TrainConfig:
    """The config with command-line overrides applied."""
    update: dict[str, Any] = {}
    if models:
        update["models"] = list(models)
    scaling = config.scaling.model_copy(update={k: v for k, v in {"workers": workers, "use_gpu": use_gpu}.items() if v is not None})
    if workers is not None and workers < 1:
        raise TrainingConfigError("--workers", f"must be at least 1, got {workers}")
    return parse_config({**config.model_dump(), **update, "scaling": scaling.model_dump()}, "command line")


def _fit_selected(data, members: dict, selected: dict[str, dict], config: TrainConfig, distributed: bool,
                  storage: RayStorage | None, log: Callable[[str], None]) -> tuple[dict, dict[str, str]]:
    """Every member again on ``data``'s training role with the rounds/epochs its selection chose
    (no early stopping): the final refit and the rolling-origin folds. Returns the fits and,
    for each member that failed, why."""
    fitted, failed = {}, {}
    for name in members:
        params, chosen = config.member_params(name), selected.get(name, {})
        common = dict(scaling=config.scaling, distributed=distributed, storage=storage, seed=config.seed, log=log)
        try:
            if config.global_model:
                fitted[name] = fit_member(name, {**params, **chosen}, data, **common).member
            else:  # each city with the rounds/epochs its own selection chose
                fitted[name] = fit_member_per_city(name, params, data, city_params=chosen, **common).member
        except Exception as error:  # reported by the caller, which decides what replaces the fit
            failed[name] = f"{type(error).__name__}: {error}"
    return fitted, failed


def _refit_on_everything(data, members: dict, selected: dict[str, dict], config: TrainConfig, distributed: bool,
                         storage: RayStorage | None, log: Callable[[str], None]) -> dict:
    """Every member on all windows through --until: the registered model sees the most recent
    data; the ensemble keeps what it learnt out of fold."""
    everything = data.everything()
    log(f"[stage] final refit on all data through {data.windows['end']:%Y-%m-%d} ({everything.count('train')} issue times)")
    refitted, failed = _fit_selected(everything, members, selected, config, distributed, storage, log)
    for name, why in failed.items():  # keep the selected fit rather than lose the member
        log(f"[stage] {name}: final refit failed ({why}); registering the selected fit")
        refitted[name] = members[name]
    return {name: refitted[name] for name in members}


def _forecast_folds(data, members: dict, selected: dict[str, dict], config: TrainConfig, distributed: bool,
                    storage: RayStorage | None, log: Callable[[str], None]) -> dict[str, SplitForecast]:
    """The rolling-origin folds before the validation window: each one's members refitted on
    everything up to validation_days before it, and their forecasts of it. A fold where a member cannot be fitted is
    left out (the selected fit has seen its window, so it cannot stand in)."""
    out = {}
    for j, (lo, hi) in enumerate(fold_windows(data.windows), start=1):
        fold = data.fold(j)
        log(f"[stage] fold {j}/{data.earlier_folds}: members fitted before {data.windows[f'cv{j}_train_end']:%Y-%m-%d} "
            f"({fold.count('train')} issue times), "
            f"forecasting {lo:%Y-%m-%d}..{hi:%Y-%m-%d} ({fold.count('test')} issue times)")
        if not fold.count("train") or not fold.count("test"):
            log(f"[stage] fold {j} left out: no usable {'training samples' if not fold.count('train') else 'targets'}")
            continue
        fitted, failed = _fit_selected(fold, members, selected, config, distributed, storage, log)
        if failed:
            log(f"[stage] fold {j} left out: {'; '.join(f'{n}: {why}' for n, why in failed.items())}")
            continue
        out[f"cv{j}"] = fold.forecast(fitted, "test")
    return out


def train(
    settings: PlatformSettings, config: TrainConfig, *, cities: list[str] | None = None, until: date | None = None,
    models: list[str] | None = None, workers: int | None = None, use_gpu: str | None = None, distributed: bool = True,
    register: bool = True, log: Callable[[str], None] = print, bundle_dir: Path | None = None,
) -> TrainReport:
    started = time.perf_counter()
    config = effective_config(config, models=models, workers=workers, use_gpu=use_gpu)
    if not cities:
        from data.stores import open_store

        cities = open_store(settings).cities()
    cities = sorted({c.upper() for c in cities})
    log(f"[stage] reading and preparing data for {', '.join(cities) or 'no cities'}")
    data = prepare_training_data(settings, config, cities, until, engine="ray" if distributed else "local")
    w = data.windows
    log(f"[stage] split: train {w['train_start']:%Y-%m-%d}..{w['validation_start']:%Y-%m-%d}, validation ..{w['test_start']:%Y-%m-%d}, "
        f"test ..{w['end']:%Y-%m-%d} ({data.count('train')}/{data.count('validation')}/{data.count('test')} issue times)")
    storage = ray_storage(settings) if distributed else None  # checkpoints: ray_storage_uri
    fit = fit_member if config.global_model else fit_member_per_city
    members, val_pinball, failed, selected = {}, {}, {}, {}
    for name in config.models:
        where = ("Ray Train" if config.global_model else "one Ray task per city") if distributed else "in-process"
        log(f"[stage] training {name} ({where})")
        try:
            outcome = fit(name, config.member_params(name), data, scaling=config.scaling,
                          distributed=distributed, storage=storage, seed=config.seed, log=log)
        except Exception as error:  # one failed member must not lose the others' work
            failed[name] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            log(f"[stage] {name} failed: {failed[name]}")
            continue
        members[name], val_pinball[name], selected[name] = outcome.member, outcome.validation_pinball, outcome.selected
        log(f"[stage] {name}: validation pinball {outcome.validation_pinball:.4f}")
    if not members:
        raise TrainingFailedError(f"no member could be trained: {failed}")
    from training.registry import VersionInfo, new_version_id, open_registry

    version = new_version_id()
    test = data.forecast(members, "test")
    folds = _forecast_folds(data, members, selected, config, distributed, storage, log)
    log(f"[stage] fitting ensemble weights and band calibration on {1 + len(folds)} out-of-fold windows")
    bundle, crossed = assemble_bundle(version, data, members, config, test, folds=folds)
    log("[stage] evaluating members, cross-fitted ensemble and baselines on the test window (lead 0)")
    metrics = evaluate_test(data, test, crossed["test"])
    cv_metrics = evaluate_folds(data, {"test": test, **folds}, crossed)
    bundle.metrics = metrics["all"]
    refit = config.split.final_refit
    if refit:
        bundle.members = _refit_on_everything(data, members, selected, config, distributed, storage, log)
    folder = Path(bundle_dir) if bundle_dir else Path(tempfile.mkdtemp(prefix=f"bundle-{version}-"))
    bundle.save(folder)
    commit = git_commit()
    if register:
        info = VersionInfo(
            cities=data.cities, resolution_minutes=data.resolution_minutes, train_start=w["train_start"].to_pydatetime(),
            train_end=(w["end"] if refit else w["test_start"]).to_pydatetime(), data_end=w["end"].to_pydatetime(),
            members=sorted(members),
            metrics=metrics["all"], config=config.model_dump(mode="json"), git_commit=commit,
            feature_schema_hash=bundle.feature_schema_hash,
            notes=f"failed members: {failed}" if failed else "",
        )
        open_registry(settings).register(folder, info, version=version)
        log(f"[stage] registered version {version} as candidate")
    return TrainReport(
        version=version, cities=data.cities, models=sorted(members), failed_members=failed,
        resolution_minutes=data.resolution_minutes, horizon_steps=data.horizon,
        windows={k: pd.Timestamp(v).to_pydatetime() for k, v in w.items()},
        samples={split: data.count(split) for split in ("train", "validation", "test")},
        validation_pinball=val_pinball, selected=selected, weights=bundle.ensemble.weights, metrics=metrics,
        cv_metrics=cv_metrics, registered=register,
        bundle_dir=str(folder), distributed=distributed, feature_schema_hash=bundle.feature_schema_hash,
        git_commit=commit, duration_s=round(time.perf_counter() - started, 1),
    )
