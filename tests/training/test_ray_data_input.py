"""Training input as Ray Datasets on the session's real Ray: per-city Ray Data tasks read
the store and cut the samples, the driver keeps summaries only, and Ray Train reads the
splits from dataset shards."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from data.distributed import generate_and_ingest
from training.config import parse_config
from training.data_prep import prepare_training_data
from training.features.grid import Samples
from training.pipeline import train
from training.tiny import TINY_CONFIG
from training.training_data import TrainingData

CITIES = ["DEL", "MUM"]


def _sorted(samples: Samples) -> Samples:
    order = np.lexsort((samples.lead, samples.origin.astype(np.int64), samples.cities.astype(str)))
    return samples.take(order)


@pytest.fixture(params=["settings", "pg_settings"], ids=["lake", "postgres"])
def stored(request):
    chosen = request.getfixturevalue(request.param)
    generate_and_ingest(chosen, CITIES, dt.date(2024, 4, 1), 30, 9, 0.002, use_ray=False)
    return chosen


def test_ray_data_preparation_gives_the_in_process_samples_and_keeps_them_in_the_cluster(ray_cluster, stored):
    config = parse_config(TINY_CONFIG)
    local = prepare_training_data(stored, config, CITIES, None, engine="local")
    distributed = prepare_training_data(stored, config, CITIES, None, engine="ray")

    assert distributed.prepared is None and distributed.city_blocks.count() == len(CITIES)  # one block per city
    assert distributed.windows == local.windows
    assert distributed.preprocessor.city_scales == local.preprocessor.city_scales
    for split in ("train", "validation", "test", "full"):
        assert distributed.count(split) == local.count(split) > 0
    streamed, here = _sorted(distributed.samples("train")), _sorted(local.train)
    for name in ("future", "hist", "y", "ymask", "level", "origin", "lead", "cities"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(here, name), err_msg=name)
    mean_d, std_d = distributed.moments("train").mean_std()
    mean_l, std_l = local.moments("train").mean_std()
    np.testing.assert_allclose(mean_d, mean_l)
    np.testing.assert_allclose(std_d, std_l)


def test_until_cuts_what_the_city_tasks_read(ray_cluster, settings):
    generate_and_ingest(settings, CITIES, dt.date(2024, 4, 1), 42, 9, 0.002, use_ray=False)
    config = parse_config(TINY_CONFIG)
    data = prepare_training_data(settings, config, CITIES, dt.date(2024, 5, 5), engine="ray")
    assert data.windows["end"] == pd.Timestamp("2024-05-05T18:30", tz="UTC")  # the local midnight ending --until
    full = data.samples("full")
    last_target = full.start.max() + np.timedelta64(15 * (data.horizon - 1), "m")
    assert last_target < np.datetime64("2024-05-05T18:30") and full.origin.max() < np.datetime64("2024-05-05T18:30")


def test_distributed_training_never_brings_a_split_to_the_driver(ray_cluster, settings, monkeypatch, tmp_path):
    generate_and_ingest(settings, CITIES, dt.date(2024, 4, 1), 30, 9, 0.002, use_ray=False)

    def refuse(self, split):
        raise AssertionError(f"the driver materialized the {split} split")

    monkeypatch.setattr(TrainingData, "samples", refuse)
    config = parse_config({**TINY_CONFIG, "scaling": {"workers": 2, "cpus_per_worker": 0.5, "use_gpu": "false", "max_failures": 0}})
    lines: list[str] = []
    report = train(settings, config, cities=CITIES, models=["xgboost"], distributed=True, register=False,
                   bundle_dir=tmp_path / "bundle", log=lines.append)

    assert report.distributed and report.models == ["xgboost"]
    assert report.samples["train"] > 0 and report.metrics["all"]["ensemble"]["mape"] < 15
    assert {"seasonal_naive_day", "seasonal_naive_week"} <= set(report.metrics["DEL"])
    assert any("final refit" in line for line in lines)


def test_a_fold_reads_the_same_cut_of_the_training_samples_from_the_cluster(ray_cluster, settings):
    """Fold roles cut the train split where its samples are: no copy of it, the in-process samples."""
    generate_and_ingest(settings, CITIES, dt.date(2024, 4, 1), 42, 9, 0.002, use_ray=False)
    config = parse_config({**TINY_CONFIG, "split": {**TINY_CONFIG["split"], "cv_folds": 2}})
    whole = prepare_training_data(settings, config, CITIES, None, engine="local")
    local, distributed = whole.fold(1), prepare_training_data(settings, config, CITIES, None, engine="ray").fold(1)
    for role in ("train", "test"):
        streamed, here = _sorted(distributed.samples(role)), _sorted(local.samples(role))
        assert len(streamed) == distributed.count(role) == local.count(role) > 0
        for name in ("future", "y", "origin", "lead", "cities"):
            np.testing.assert_array_equal(getattr(streamed, name), getattr(here, name), err_msg=f"{role}: {name}")
    assert 0 < local.count("train") < whole.count("train"), "the fold trains on the samples before its window only"
