"""``efp train`` and ``python -m ray_apps.train`` are one entrypoint path: the same options
reach ``run_training`` from both, and the command line wins over the YAML only when given."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ray_apps.train as train_job
from ray_apps.cli import app
from ray_apps.train import TrainOptions, parse_args
from training.config import load_train_config
from training.pipeline import effective_config


class _Captured(Exception):
    pass


@pytest.fixture()
def captured(monkeypatch: pytest.MonkeyPatch) -> list[TrainOptions]:
    """What each entrypoint hands to the shared ``run_training`` (stopped there: no fit)."""
    seen: list[TrainOptions] = []

    def capture(options: TrainOptions, log) -> None:
        seen.append(options)
        raise _Captured

    monkeypatch.setattr(train_job, "run_training", capture)
    return seen


@pytest.mark.parametrize("flags", [
    [],
    ["--cities", "DEL,MUM", "--until", "2024-06-30", "--models", "xgboost,lstm", "--workers", "3", "--use-gpu", "false", "--local"],
])
def test_both_entrypoints_pass_the_same_options(captured: list[TrainOptions], flags: list[str]) -> None:
    with pytest.raises(_Captured):
        train_job.run(flags)
    CliRunner().invoke(app, ["train", *flags])
    job, cli = captured
    assert job == cli
    assert job == parse_args(flags)


def test_use_gpu_is_left_to_the_yaml_unless_given(tmp_path: Path) -> None:
    assert parse_args([]).use_gpu is None  # efp train used to force "auto" over the YAML
    yaml_file = tmp_path / "gpu.yaml"
    yaml_file.write_text("scaling:\n  use_gpu: 'false'\n  workers: 3\n", encoding="utf-8")
    config = load_train_config(yaml_file)
    assert effective_config(config).scaling.use_gpu == "false"
    assert effective_config(config, use_gpu="true", workers=None).scaling.model_dump(include={"use_gpu", "workers"}) == \
        {"use_gpu": "true", "workers": 3}
    assert parse_args(["--until", "2024-06-30"]).until == dt.date(2024, 6, 30)
