"""Real Ray Tune sweeps through Ray Train (ASHA + Optuna, 2 trials each on tiny data), the best
configuration trained with, and the search-space checks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import boto3
import numpy as np
import pytest
import yaml

from data.catalogue import load_catalogue
from data.config_files import read_yaml_mapping, shipped_config_dir
from data.settings import PlatformSettings
from training.config import TrainConfig, load_train_config
from training.data_prep import build_training_data
from training.synthetic_frames import synthetic_frames
from training.tiny import TINY_CONFIG
from training.tuning import TuneError, TuneSpaceError, load_space, run_tune

XGBOOST_SPACE = {
    "model": "xgboost",
    "params": {
        "max_depth": {"type": "int", "low": 2, "high": 5},
        "eta": "declared",  # the range written beside XGBoostParams.eta
    },
    # A good configuration first, then one that learns 30 times slower: at the first rung ASHA
    # compares it with the first trial's loss there and stops it.
    "start": [{"max_depth": 4, "eta": 0.3}, {"max_depth": 2, "eta": 0.01}],
    "fixed": {"num_boost_round": 40, "report_every": 10, "early_stopping_rounds": 40},
    "asha": {"grace_period": 1, "reduction_factor": 2},
    "workers": 1,
    "cpus_per_worker": 1.5,
}


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


@pytest.fixture()
def tiny_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site configs folder whose training.yaml is the tiny one: `efp tune` and `efp train` both read it."""
    folder = tmp_path / "configs"
    folder.mkdir()
    shipped = read_yaml_mapping(shipped_config_dir() / "training.yaml")
    (folder / "training.yaml").write_text(yaml.safe_dump(_merged(shipped, TINY_CONFIG)), encoding="utf-8")
    monkeypatch.setenv("EFP_CONFIG_DIR", str(folder))
    return folder


def test_xgboost_sweep_on_ray_train_with_s3_storage_asha_stops_a_trial_and_training_takes_the_best(
    ray_cluster, tiny_trained, tiny_configs, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`efp tune` end to end on the tiny bundle's stored data (2 cities, a few weeks), its trials'
    Train runs and Tune's results in S3 (moto), then `run_training` with the best YAML."""
    from typer.testing import CliRunner

    from data.settings import get_settings
    from ray_apps.cli import app
    from ray_apps.train import TrainOptions, run_training
    from training.bundle import load_bundle

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="efp-ray")
    space_file = tmp_path / "xgboost.yaml"
    space_file.write_text(yaml.safe_dump(XGBOOST_SPACE))
    for key, value in {"DATA_DIR": str(tiny_trained.settings.data_dir), "ENVIRONMENT": "test",
                       "REGISTRY_URI": str(tmp_path / "registry"), "RAY_STORAGE_URI": "s3://efp-ray/sweeps",
                       "S3_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(f"EFP_{key}", value)
    get_settings.cache_clear()
    try:
        run = CliRunner().invoke(app, [
            "tune", "--model", "xgboost", "--samples", "2", "--cities", "DEL,MUM", "--space", str(space_file), "--json",
        ])
        assert run.exit_code == 0, run.output
        assert run.stdout.lstrip().startswith("{"), run.stdout[:2000]
        result = json.loads(run.stdout)
        assert "1 at a time" in run.stderr  # 1 worker x 1.5 CPUs per trial on a 2-CPU cluster

        # Every 10 rounds a Tune result: the good trial reports 4 chunks and its final result;
        # the slow one is stopped at ASHA's first rung (1 report, fewer than max_t = 5).
        by_eta = {row["eta"]: row for row in result["trials"]}
        assert by_eta[0.3]["status"] == "complete" and by_eta[0.3]["reports"] == 5
        assert by_eta[0.01]["status"] == "stopped early" and by_eta[0.01]["reports"] == 1
        assert result["trials"][0]["val_loss"] == result["best_val_loss"] == by_eta[0.3]["val_loss"]

        # Tune's experiment state, each trial's Train checkpoint and the best YAML are in the bucket.
        experiment = result["results_uri"].removeprefix("s3://efp-ray/")
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="efp-ray", Prefix=experiment)
                for o in page.get("Contents", [])]
        assert any(k.split("/")[-1].startswith("experiment_state") for k in keys), keys
        checkpoints = [k for k in keys if "/train-" in k and "/checkpoint_" in k and k.endswith("model.ubj")]
        assert len(checkpoints) == 1, keys  # the complete trial's model; the stopped one never got there
        best_copy = s3.get_object(Bucket="efp-ray", Key=f"{experiment}/best-xgboost.yaml")["Body"].read().decode()
        best = Path(result["best_config_path"])
        assert best_copy == best.read_text(encoding="utf-8")

        report = run_training(TrainOptions(config=best, cities=["DEL", "MUM"], models=["xgboost"], local=True,
                                           register_version=False), log=lambda line: None)
    finally:
        get_settings.cache_clear()
    chosen = load_train_config(best).members.xgboost
    assert (chosen.max_depth, chosen.eta) == (4, 0.3) == (result["best_params"]["max_depth"], result["best_params"]["eta"])
    # A saved booster keeps its trees, not its training parameters: read the depth off the trees
    # (leaves sit at most max_depth splits down; the tiny training YAML says 5).
    trees = load_bundle(Path(report.bundle_dir)).members["xgboost"].booster.get_dump()
    leaf_depths = [len(line) - len(line.lstrip("\t")) for tree in trees for line in tree.splitlines() if "leaf=" in line]
    assert max(leaf_depths) == chosen.max_depth


@pytest.fixture(scope="module")
def sequence_data():
    from data.settings import load_settings

    config = TrainConfig.model_validate({
        "split": {"validation_days": 4, "test_days": 3, "cv_folds": 1}, "features": {"origins_per_day": 1, "history_days": 1},
    })
    catalogue = load_catalogue(load_settings(environment="test"))
    cities = [catalogue.get("DEL"), catalogue.get("BLR")]
    frames = {c.code: synthetic_frames(c, dt.date(2024, 5, 1), 21, seed=5) for c in cities}
    return build_training_data(cities, frames, 15, config)


SEQUENCE_SPACES = {
    "lstm": {"params": {"hidden": {"type": "choice", "values": [8, 16]}},
             "fixed": {"epochs": 2, "batch_size": 16, "layers": 1}},
    "transformer": {"params": {"d_model": {"type": "choice", "values": [8, 16]}},
                    "fixed": {"epochs": 2, "batch_size": 16, "heads": 2, "layers": 1, "ff": 16}},
}


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_sequence_member_sweep_runs_each_trial_on_ray_train(ray_cluster, sequence_data, settings: PlatformSettings,
                                                            tmp_path: Path, model: str) -> None:
    space = {"model": model, **SEQUENCE_SPACES[model], "asha": {"grace_period": 1, "reduction_factor": 2},
             "workers": 1, "cpus_per_worker": 1.5}
    space_file = tmp_path / f"{model}.yaml"
    space_file.write_text(yaml.safe_dump(space))
    lines: list[str] = []
    result = run_tune(settings, model, 2, space_file=space_file, data=sequence_data, log=lines.append)

    assert any("on Ray Train (1 x 1.5 CPUs each), 1 at a time" in line for line in lines), lines
    assert len(result.trials) == 2 and {row["status"] for row in result.trials} <= {"complete", "stopped early"}
    # One Tune result per epoch, straight from the Train workers' ray.train.report.
    assert all(1 <= row["reports"] <= 2 and np.isfinite(row["val_loss"]) for row in result.trials)
    runs = sorted(Path(result.results_uri).glob("train-*"))
    assert len(runs) == 2 and all(list(run.glob("checkpoint_*/state.pt")) for run in runs)
    chosen = load_train_config(result.best_config_path).members.model_dump()[model]
    assert chosen == result.best_params and chosen["epochs"] == 2
    assert (Path(result.results_uri) / f"best-{model}.yaml").read_text() == result.best_config_path.read_text()


def test_a_trial_larger_than_the_cluster_is_refused(ray_cluster, sequence_data, settings: PlatformSettings,
                                                     tmp_path: Path) -> None:
    space_file = tmp_path / "lstm.yaml"
    space_file.write_text(yaml.safe_dump({"model": "lstm", **SEQUENCE_SPACES["lstm"], "workers": 2, "cpus_per_worker": 1}))
    with pytest.raises(TuneError, match=r"a lstm trial needs 2 Train workers of 1 CPUs each, plus 0.01 for its driver; "
                                        r"the cluster \(2 CPUs\) holds 2 such workers"):
        run_tune(settings, "lstm", 1, space_file=space_file, data=sequence_data)


def test_shipped_search_spaces_name_real_hyperparameters() -> None:
    from training.members.params import tune_ranges
    from training.members.registry import get_member

    for model in ("xgboost", "lstm", "transformer"):
        space = load_space(model)
        assert space.param_space() and space.model == model
    # "declared" reads the range off the params model instead of writing it twice.
    eta, declared = load_space("xgboost").params["eta"], tune_ranges(get_member("xgboost").params)["eta"]
    assert (eta.type, eta.low, eta.high, eta.log) == ("float", declared.low, declared.high, declared.log)
    assert load_space("xgboost").params["max_depth"].type == "int"
    assert load_space("lstm").params["hidden"].values == list(tune_ranges(get_member("lstm").params)["hidden"].choices)


def test_a_misspelt_hyperparameter_is_refused(tmp_path: Path) -> None:
    bad = {**XGBOOST_SPACE, "params": {"max_dept": {"type": "int", "low": 2, "high": 5}}, "start": []}
    path = tmp_path / "xgboost.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(TuneSpaceError, match="'max_dept' is not a xgboost hyperparameter"):
        load_space("xgboost", path)
    path.write_text(yaml.safe_dump({**XGBOOST_SPACE, "params": {"report_every": "declared"}, "start": []}))
    with pytest.raises(TuneSpaceError, match="'report_every' has no declared tuning range"):
        load_space("xgboost", path)


def test_a_start_point_must_give_the_searched_keys(tmp_path: Path) -> None:
    path = tmp_path / "xgboost.yaml"
    path.write_text(yaml.safe_dump({**XGBOOST_SPACE, "start": [{"max_depth": 3}]}))
    with pytest.raises(TuneSpaceError, match=r"start point 1 must give exactly the searched keys \(eta, max_depth\)"):
        load_space("xgboost", path)
