"""One short real Ray Tune sweep (ASHA + Optuna, 2 trials on tiny data) and the search-space checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from training.config import TrainConfig, load_train_config
from training.tiny import TINY_CONFIG
from training.tuning import TuneSpaceError, load_space, run_tune

SMALL_SPACE = {
    "model": "xgboost",
    "params": {
        "max_depth": {"type": "int", "low": 2, "high": 5},
        "eta": {"type": "float", "low": 0.05, "high": 0.3, "log": True},
    },
    "fixed": {"num_boost_round": 30, "report_every": 10, "early_stopping_rounds": 10},
    "asha": {"grace_period": 1, "reduction_factor": 2},
    "cpus_per_trial": 1.5,
}


def test_short_sweep_writes_a_best_config_that_training_accepts(ray_cluster, tiny_trained, tmp_path: Path) -> None:
    space_file = tmp_path / "xgboost.yaml"
    space_file.write_text(yaml.safe_dump(SMALL_SPACE))
    settings = tiny_trained.settings.model_copy(update={"data_dir": tmp_path / "var"})
    # Data stays in the tiny bundle's lake; results and the best YAML go under this test's folder.
    from training.data_prep import prepare_training_data

    base = TrainConfig.model_validate(TINY_CONFIG)
    data = prepare_training_data(tiny_trained.settings, base, tiny_trained.cities, None, parallel=False)
    lines: list[str] = []
    result = run_tune(settings, "xgboost", 2, space_file=space_file, base_config=base, data=data, log=lines.append)

    assert len(result.trials) == 2 and all(row["reports"] >= 1 for row in result.trials)
    assert result.trials[0]["val_loss"] == result.best_val_loss
    assert "1 at a time" in lines[0]  # 1.5 CPUs per trial on a 2-CPU cluster
    assert result.best_config_path.is_file()
    loaded = load_train_config(result.best_config_path)
    assert loaded.members.xgboost.max_depth == result.best_params["max_depth"]
    assert loaded.members.xgboost.num_boost_round == 30
    assert 2 <= loaded.members.xgboost.max_depth <= 5


def test_shipped_search_spaces_name_real_hyperparameters() -> None:
    for model in ("xgboost", "lstm", "transformer"):
        space = load_space(model)
        assert space.param_space() and space.model == model


def test_a_misspelt_hyperparameter_is_refused(tmp_path: Path) -> None:
    bad = {**SMALL_SPACE, "params": {"max_dept": {"type": "int", "low": 2, "high": 5}}}
    path = tmp_path / "xgboost.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(TuneSpaceError, match="'max_dept' is not a xgboost hyperparameter"):
        load_space("xgboost", path)
