"""One short real Ray Tune sweep (ASHA + Optuna, 2 trials on tiny data) and the search-space checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from training.config import TrainConfig, load_train_config
from training.tiny import TINY_CONFIG
from training.tuning import TuneSpaceError, load_space

SMALL_SPACE = {
    "model": "xgboost",
    "params": {
        "max_depth": {"type": "int", "low": 2, "high": 5},
        "eta": "declared",  # the range written beside XGBoostParams.eta
    },
    "fixed": {"num_boost_round": 30, "report_every": 10, "early_stopping_rounds": 10},
    "asha": {"grace_period": 1, "reduction_factor": 2},
    "cpus_per_trial": 1.5,
}


def test_short_sweep_writes_a_best_config_that_training_accepts(
    ray_cluster, tiny_trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`efp tune` end to end on the tiny bundle's stored data (2 cities, a few weeks)."""
    from typer.testing import CliRunner

    from data.settings import get_settings
    from ray_apps.cli import app

    space_file, config_file = tmp_path / "xgboost.yaml", tmp_path / "tiny.yaml"
    space_file.write_text(yaml.safe_dump(SMALL_SPACE))
    config_file.write_text(yaml.safe_dump(TINY_CONFIG))
    monkeypatch.setenv("EFP_DATA_DIR", str(tiny_trained.settings.data_dir))
    monkeypatch.setenv("EFP_ENVIRONMENT", "test")
    get_settings.cache_clear()
    try:
        run = CliRunner().invoke(app, [
            "tune", "--model", "xgboost", "--samples", "2", "--cities", "DEL,MUM",
            "--space", str(space_file), "--config", str(config_file), "--json",
        ])
    finally:
        get_settings.cache_clear()
    assert run.exit_code == 0, run.output
    assert run.stdout.lstrip().startswith("{"), run.stdout[:2000]
    result = json.loads(run.stdout)
    assert "1 at a time" in run.stderr  # 1.5 CPUs per trial on a 2-CPU cluster

    assert len(result["trials"]) == 2 and all(row["reports"] >= 1 for row in result["trials"])
    assert result["trials"][0]["val_loss"] == result["best_val_loss"]
    best = Path(result["best_config_path"])
    loaded = load_train_config(best)
    assert loaded.members.xgboost.max_depth == result["best_params"]["max_depth"]
    assert loaded.members.xgboost.num_boost_round == 30
    assert 2 <= loaded.members.xgboost.max_depth <= 5
    assert isinstance(loaded, TrainConfig)


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
    bad = {**SMALL_SPACE, "params": {"max_dept": {"type": "int", "low": 2, "high": 5}}}
    path = tmp_path / "xgboost.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(TuneSpaceError, match="'max_dept' is not a xgboost hyperparameter"):
        load_space("xgboost", path)
    path.write_text(yaml.safe_dump({**SMALL_SPACE, "params": {"report_every": "declared"}}))
    with pytest.raises(TuneSpaceError, match="'report_every' has no declared tuning range"):
        load_space("xgboost", path)
