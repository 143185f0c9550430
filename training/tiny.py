"""A tiny real bundle trained in-process in seconds: test fixtures and quick demos use it
so they exercise a genuine model without paying for Ray Train fits."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from data.catalogue import load_catalogue
from data.settings import PlatformSettings
from training.assemble import assemble_bundle
from training.config import TrainConfig
from training.scaling import ScalingSpec
from training.data_prep import prepare_training_data
from training.fitting import fit_member

TINY_CONFIG = {
    "split": {"validation_days": 7, "test_days": 7, "cv_folds": 1},  # the bundle is fitted on the test window alone
    "features": {"origins_per_day": 2, "history_days": 1},
    "members": {
        "xgboost": {"num_boost_round": 40, "max_depth": 5, "eta": 0.2, "report_every": 20},
        "lstm": {"epochs": 2, "hidden": 16, "batch_size": 32},
        "transformer": {"epochs": 2, "d_model": 16, "heads": 2, "layers": 1, "ff": 32, "batch_size": 32},
    },
}


def _store_synthetic(settings: PlatformSettings, codes: list[str], start: dt.date, days: int, seed: int) -> None:
    """Synthetic data into the configured store: through the ingest pipeline when present."""
    catalogue = load_catalogue(settings)
    try:
        from data.pipeline import ingest
        from data.synthetic.generator import generate_city
    except ImportError:
        ingest = None
    if ingest is not None:
        for code in codes:
            ingest(generate_city(catalogue.get(code), start, days, seed, fault_rate=0.0), settings)
        return
    from data.stores import open_store
    from training.synthetic_frames import synthetic_frames

    store = open_store(settings)
    for code in codes:
        load, weather = synthetic_frames(catalogue.get(code), start, days, seed)
        store.write_load(load)
        store.write_weather(weather)


def build_tiny_bundle(settings: PlatformSettings, out: Path, codes: list[str], start: dt.date, days: int,
                      seed: int = 11) -> tuple[Path, list[str], pd.Timestamp, pd.Timestamp]:
    """Store synthetic data, fit the three members in-process, save the bundle to ``out``."""
    _store_synthetic(settings, codes, start, days, seed)
    config = TrainConfig.model_validate(TINY_CONFIG)
    data = prepare_training_data(settings, config, codes, None, engine="local")
    quiet = lambda line: None  # noqa: E731
    members = {
        name: fit_member(name, config.member_params(name), data, scaling=ScalingSpec(use_gpu="false"),
                         distributed=False, log=quiet).member
        for name in config.models
    }
    bundle, _ = assemble_bundle("tiny-0001", data, members, config)
    bundle.save(out)
    return out, codes, data.windows["train_start"], data.windows["end"]
