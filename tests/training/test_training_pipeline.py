"""The training pipeline end to end (in-process fits) into the registry, and its command lines."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from typer.testing import CliRunner

from data.distributed import generate_and_ingest
from data.settings import get_settings
from training.bundle import load_bundle
from training.config import TrainingConfigError, load_train_config, parse_config
from training.members.lstm import LSTMParams
from training.members.params import tune_ranges
from training.pipeline import effective_config, train
from training.registry import open_registry
from training.tiny import TINY_CONFIG

FORECASTERS = {"xgboost", "lstm", "transformer", "ensemble", "seasonal_naive_day", "seasonal_naive_week"}
METRICS = {"mape", "smape", "mase", "rmse", "pinball", "coverage", "within_5pct"}


@pytest.fixture()
def stored(settings):
    generate_and_ingest(settings, ["DEL", "MUM"], dt.date(2024, 4, 1), 42, 9, 0.002, use_ray=False)
    return settings


def test_train_evaluates_everything_and_registers(stored):
    lines: list[str] = []
    report = train(stored, parse_config(TINY_CONFIG), distributed=False, log=lines.append)
    assert report.cities == ["DEL", "MUM"] and report.models == ["lstm", "transformer", "xgboost"]
    assert set(report.metrics) == {"DEL", "MUM", "all"}
    for city_metrics in report.metrics.values():
        assert set(city_metrics) == FORECASTERS
        assert all(set(values) == METRICS for values in city_metrics.values())
    assert report.windows["train_start"] < report.windows["validation_start"] < report.windows["test_start"] < report.windows["end"]
    assert any(line.startswith("[lstm] epoch 2") for line in lines) and any("[xgboost] round" in line for line in lines)
    registry = open_registry(stored)
    version = registry.get(report.version)
    assert version.stage == "candidate" and version.feature_schema_hash == report.feature_schema_hash
    assert version.git_commit and version.members == ["lstm", "transformer", "xgboost"]
    # The registered members were refitted on everything through the end of the data, with the
    # rounds early stopping chose: the promotion gate's unseen window starts after all of it.
    assert any(line.startswith("[stage] final refit on all data") for line in lines)
    assert version.train_end == report.windows["end"]
    bundle = load_bundle(registry.fetch(report.version))
    assert bundle.version == report.version and bundle.cities == ["DEL", "MUM"]
    rounds = report.selected["xgboost"]["num_boost_round"]
    assert 1 <= rounds <= TINY_CONFIG["members"]["xgboost"]["num_boost_round"]
    assert bundle.members["xgboost"].booster.num_boosted_rounds() == rounds
    assert 1 <= report.selected["lstm"]["epochs"] <= TINY_CONFIG["members"]["lstm"]["epochs"]


def test_until_limits_the_data_and_per_city_models_work(stored):
    config = parse_config({**TINY_CONFIG, "global_model": False, "models": ["xgboost"]})
    lines: list[str] = []
    report = train(stored, config, cities=["del", "mum"], until=dt.date(2024, 5, 5), distributed=False, register=False,
                   log=lines.append)
    assert report.cities == ["DEL", "MUM"] and not report.registered
    assert report.windows["end"].date() <= dt.date(2024, 5, 5)
    member = load_bundle(report.bundle_dir).members["xgboost"]
    assert member.cities == ["DEL", "MUM"] and member.by_city == {}, "a loaded per-city member loads a city on first use"
    # one progress line per city, for the selection fit and again for the final refit on everything
    finished = [line for line in lines if line.startswith("[xgboost] ") and line.endswith("cities)")]
    assert [line.split(":")[0] for line in finished] == ["[xgboost] DEL", "[xgboost] MUM"] * 2
    assert any(line.startswith("[stage] final refit on all data") for line in lines)
    # each city refitted with the rounds its own selection chose
    for city in ("DEL", "MUM"):
        assert member.model(city).booster.num_boosted_rounds() == report.selected["xgboost"][city]["num_boost_round"]


def test_efp_train_cli_runs_locally_and_prints_json(stored, tmp_path, monkeypatch):
    from ray_apps.cli import app

    override = tmp_path / "best.yaml"
    override.write_text(yaml.safe_dump({**TINY_CONFIG, "models": ["xgboost"]}))
    monkeypatch.setenv("EFP_DATA_DIR", str(stored.data_dir))
    monkeypatch.setenv("EFP_REGISTRY_URI", stored.registry_uri)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["train", "--config", str(override), "--local", "--cities", "MUM", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["models"] == ["xgboost"] and payload["cities"] == ["MUM"] and payload["registered"]


def test_bad_training_config_is_a_one_line_error_naming_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("members:\n  lstm:\n    hiden: 3\n")
    with pytest.raises(TrainingConfigError, match=r"bad.yaml: field 'members.lstm.hiden': unknown field"):
        load_train_config(bad)
    assert tune_ranges(LSTMParams)["lr"].log is True
    with pytest.raises(TrainingConfigError, match=r"command line: field 'models.0'"):
        effective_config(parse_config({}), models=["prophet"])
