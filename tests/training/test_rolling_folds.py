"""Rolling-origin folds: each fold trains only on what lies before its window, forecasts that
window, and the pipeline pools every fold's forecasts for the ensemble and reports each one."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from data.catalogue import load_catalogue
from data.distributed import generate_and_ingest
from training.config import TrainConfig, parse_config
from training.data_prep import build_training_data, fold_windows
from training.pipeline import train
from training.synthetic_frames import synthetic_frames
from training.tiny import TINY_CONFIG

CONFIG = TrainConfig.model_validate({"split": {"validation_days": 5, "test_days": 5, "cv_folds": 3},
                                     "features": {"origins_per_day": 2}})
RESOLUTION = 15


@pytest.fixture(scope="module")
def frames():
    from data.settings import load_settings

    catalogue = load_catalogue(load_settings(environment="test"))
    cities = [catalogue.get("DEL"), catalogue.get("MUM")]
    return cities, {c.code: synthetic_frames(c, dt.date(2023, 10, 1), 45, seed=5) for c in cities}


def _last_target(samples, horizon: int) -> np.ndarray:
    return samples.start + np.timedelta64(RESOLUTION * (horizon - 1), "m")


def test_folds_tile_the_time_before_validation_and_train_only_on_the_past(frames):
    cities, data = frames
    prepared = build_training_data(cities, data, RESOLUTION, CONFIG)
    w = prepared.windows
    assert prepared.earlier_folds == 2
    assert fold_windows(w) == [(w["cv1_start"], w["validation_start"]), (w["cv2_start"], w["cv1_start"])]
    assert w["cv1_start"] - w["cv2_start"] == w["validation_start"] - w["cv1_start"] == pd.Timedelta(days=5)
    horizon = prepared.horizon
    for j, (lo, hi) in enumerate(fold_windows(w), start=1):
        fold = prepared.fold(j)
        train, window = fold.samples("train"), fold.samples("test")
        fit_end = w[f"cv{j}_train_end"]
        assert lo - fit_end == pd.Timedelta(days=5), "a fold's fit stops validation_days before it, as the test window's"
        lo64, hi64, end64 = (np.datetime64(t.tz_localize(None)) for t in (lo, hi, fit_end))
        assert len(train) == fold.count("train") > 0 and len(window) == fold.count("test") > 0
        assert (_last_target(train, horizon) < end64).all(), f"fold {j} trains on targets after its fit's end"
        assert (window.origin >= lo64).all() and (_last_target(window, horizon) < hi64).all()
        # the cut keeps every earlier training sample: nothing before the fit's end is lost
        everything = prepared.samples("train")
        assert len(train) == int((_last_target(everything, horizon) < end64).sum())
        # the sequence members' normaliser sees only the fold's own training features
        mean, _ = fold.moments("train").mean_std()
        expected = np.nanmean(train.future[..., :-1].reshape(-1, train.future.shape[-1] - 1).astype(np.float64), axis=0)
        np.testing.assert_allclose(mean, np.nan_to_num(expected), rtol=1e-6, atol=1e-9)


def test_a_fold_cannot_see_data_at_or_after_its_start(frames):
    """Load from the fold's fit end on, made wildly different, changes none of its training samples."""
    cities, data = frames
    before = build_training_data(cities, data, RESOLUTION, CONFIG)
    fold_start = before.windows["cv1_train_end"]
    moved = dict(data)
    load, weather = data["DEL"]
    shifted = load.copy()
    future = pd.to_datetime(shifted["ts"], utc=True) >= fold_start
    shifted.loc[future, "load_mw"] = shifted.loc[future, "load_mw"] * 3.0 + 500.0
    moved["DEL"] = (shifted, weather)
    after = build_training_data(cities, moved, RESOLUTION, CONFIG)
    a, b = before.fold(1).samples("train"), after.fold(1).samples("train")
    for field in ("future", "hist", "level", "y", "origin", "lead"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    # the perturbation was real: the fold's own window (its targets) did change
    assert not np.allclose(np.nan_to_num(before.fold(1).samples("test").y), np.nan_to_num(after.fold(1).samples("test").y))


def test_too_little_history_for_the_folds_names_the_setting(frames):
    from training.data_prep import TrainingDataError

    cities, data = frames
    greedy = TrainConfig.model_validate({"split": {"validation_days": 5, "test_days": 5, "cv_folds": 8},
                                         "features": {"origins_per_day": 2}})
    with pytest.raises(TrainingDataError, match=r"split\.cv_folds=8"):
        build_training_data(cities, data, RESOLUTION, greedy)


def test_pipeline_pools_the_folds_and_reports_each(settings):
    generate_and_ingest(settings, ["DEL", "MUM"], dt.date(2024, 4, 1), 56, 9, 0.002, use_ray=False)
    config = parse_config({**TINY_CONFIG, "models": ["xgboost", "lstm"],
                           "split": {**TINY_CONFIG["split"], "cv_folds": 3}})
    lines: list[str] = []
    report = train(settings, config, distributed=False, register=False, log=lines.append)
    w = report.windows
    assert w["train_start"] < w["cv2_train_end"] < w["cv2_start"] < w["cv1_start"] < w["validation_start"] < w["test_start"]
    assert all(w[f"cv{j}_start"] - w[f"cv{j}_train_end"] == dt.timedelta(days=7) for j in (1, 2))
    assert set(report.cv_metrics) == {"test", "cv1", "cv2"}
    for window in report.cv_metrics.values():
        assert set(window) == {"xgboost", "lstm", "ensemble"}
        assert all(0 < scores["mape"] < 50 for scores in window.values())
    # the test window's scores are the headline metrics' (same forecasts, same protocol)
    assert report.cv_metrics["test"]["xgboost"]["mape"] == pytest.approx(report.metrics["all"]["xgboost"]["mape"])
    folds = [line for line in lines if line.startswith("[stage] fold ")]
    assert [line.split(":")[0] for line in folds] == ["[stage] fold 1/2", "[stage] fold 2/2"]
    assert "[stage] fitting ensemble weights and band calibration on 3 out-of-fold windows" in lines
