"""From stored history to training samples: clean, features per city, time-ordered split.

The split is by issue time and never shuffled across time: train issue times end so that
their whole horizon lies before the validation window, validation likewise before the
test window (the last ``test_days``). Every window forecasts each local day from the
day-ahead issue hours at every lead up to ``max_lead_hours`` (``issue_pairs``); training
adds ``origins_per_day`` intraday issue times.
Load-shedding, outlier and imputed blocks are masked out of the targets.

Everything a city's samples depend on is that city's rows and a small ``TrainingPlan``
(windows, configuration, the preprocessor before scales), so ``prepare_city`` runs per
city anywhere: in this process (``engine="local"``, ``build_training_data``) or in one
Ray Data task per city (``engine="ray"``, ``training.datasets``), giving the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd

from data.catalogue import City, load_catalogue
from data.settings import PlatformSettings
from training.baselines import seasonal_naive
from training.config import TrainConfig
from training.features.config import FeatureConfig
from training.metrics import season_steps
from training.preprocessor import LoadPreprocessor, steps_per_day
from training.prepared import BASELINE_NAMES, CityPrepared, CitySummary, Moments, SampleShapes, fold_train_role, split_of
from training.training_data import TrainingData, TrainingDataError

__all__ = ["TrainingData", "TrainingDataError", "TrainingPlan", "build_training_data", "fold_windows",
           "issue_pairs", "prepare_city", "prepare_training_data"]


def issue_pairs(grid_ts: pd.DatetimeIndex, tz, resolution_minutes: int, features: FeatureConfig, lo: pd.Timestamp,
                hi: pd.Timestamp, horizon: int, min_index: int, *, intraday: bool) -> tuple[np.ndarray, np.ndarray]:
    """(origin, lead) grid-index pairs of the forecasts a window trains or scores on.

    Origins are issue times in [lo, hi): the day-ahead issue hours (``issue_hours``, 00:00 and
    10:00 local by default) and, with ``intraday``, every ``steps_per_day // origins_per_day``
    steps. Each origin forecasts every local midnight at most ``max_lead_hours`` ahead (lead
    14 h and 38 h from 10:00; 0, 24 and 48 h from 00:00), and with ``intraday`` also the
    blocks right after it (lead 0). Every target lies before ``hi``.
    """
    spd = steps_per_day(resolution_minutes)
    local = grid_ts.tz_convert(tz)
    step_of_day = (local.hour * 60 + local.minute) // resolution_minutes
    issue_steps = {int(round(h * 60 / resolution_minutes)) % spd for h in features.issue_hours}
    is_issue = np.isin(step_of_day, sorted(issue_steps))
    if intraday:
        is_issue |= step_of_day % max(1, spd // features.origins_per_day) == 0
    in_window = (grid_ts >= lo) & (grid_ts < hi)
    origins = np.flatnonzero(is_issue & in_window)
    origins = origins[origins >= min_index]
    midnights = np.flatnonzero(step_of_day == 0)
    max_lead = int(features.max_lead_hours * 60 // resolution_minutes)
    last_start = int(np.searchsorted(grid_ts, hi)) - horizon  # the latest first target step inside the window
    pairs_o, pairs_l = [], []
    for origin in origins:
        first, last = np.searchsorted(midnights, [origin, origin + max_lead + 1])
        leads = set((midnights[first:last] - origin).tolist())
        if intraday:
            leads.add(0)
        for lead in sorted(leads):
            if origin + lead <= last_start:
                pairs_o.append(origin)
                pairs_l.append(lead)
    return np.asarray(pairs_o, dtype=np.int64), np.asarray(pairs_l, dtype=np.int64)


@dataclass(frozen=True)
class TrainingPlan:
    """What every city's data task needs: the windows, the preprocessor (scales still to
    come from each city's task) and the configuration. Small, so it is broadcast as is."""

    config: TrainConfig
    resolution_minutes: int
    preprocessor: LoadPreprocessor
    windows: dict[str, pd.Timestamp]

    @property
    def read_start(self) -> pd.Timestamp:
        return self.windows["train_start"]

    @property
    def read_end(self) -> pd.Timestamp:
        return self.windows["end"]


def plan_training(cities: list[City], spans: dict[str, tuple[pd.Timestamp, pd.Timestamp]], resolution_minutes: int,
                  config: TrainConfig) -> TrainingPlan:
    """Windows from each city's first and last stored block: the test window is the last
    ``test_days`` local days before the earliest city's end, validation before it, and
    training as far back as the data (or ``max_train_days``) goes."""
    res = pd.Timedelta(minutes=resolution_minutes)
    spd = steps_per_day(resolution_minutes)
    for city in cities:
        if spans.get(city.code) is None:
            raise TrainingDataError(f"city '{city.code}': no load data to train on")
    end = min(spans[c.code][1] for c in cities) + res
    tz = cities[0].tz
    test_start = (end.tz_convert(tz).normalize() - pd.Timedelta(days=config.split.test_days)).tz_convert("UTC")
    val_start = (test_start.tz_convert(tz) - pd.Timedelta(days=config.split.validation_days)).tz_convert("UTC")
    first = max(min(spans[c.code][0] for c in cities).tz_convert(tz).floor("D").tz_convert("UTC"), end - pd.Timedelta(days=3650))
    if config.split.max_train_days:
        first = max(first, val_start - pd.Timedelta(days=config.split.max_train_days))
    pre = LoadPreprocessor.fit(cities, {}, resolution_minutes, config.horizon_days, config.features)
    # Each earlier fold repeats the test window's arrangement: its members train on what ends
    # validation_days before it, so its forecasts are as stale as the test window's.
    folds: dict[str, pd.Timestamp] = {}
    for j in range(1, config.split.cv_folds):
        fold_start = val_start.tz_convert(tz) - pd.Timedelta(days=j * config.split.test_days)
        folds[f"cv{j}_start"] = fold_start.tz_convert("UTC")
        folds[f"cv{j}_train_end"] = (fold_start - pd.Timedelta(days=config.split.validation_days)).tz_convert("UTC")
    windows = {"train_start": first, **dict(sorted(folds.items(), key=lambda kv: kv[1])), "validation_start": val_start,
               "test_start": test_start, "end": end}
    fits_end = earliest_fit_end(windows)
    if fits_end - first < res * (pre.lookback_steps() + pre.horizon) + pd.Timedelta(days=3):
        held = (end.tz_convert(tz).normalize() - fits_end.tz_convert(tz).normalize()).days
        raise TrainingDataError(
            f"not enough history: with split.cv_folds={config.split.cv_folds} the earliest fit ends {held} days before the "
            f"data does (validation {config.split.validation_days} days, test windows of {config.split.test_days}); it needs "
            f"{pre.lookback_steps() // spd + 4} days to train on, have data from {first.date()} to {end.date()}")
    return TrainingPlan(config, resolution_minutes, pre, windows)


def earliest_fit_end(windows: dict[str, pd.Timestamp]) -> pd.Timestamp:
    """Where the earliest fit's training data ends: the validation window's start, or an earlier fold's ``cv<j>_train_end``."""
    return min([windows["validation_start"], *(t for key, t in windows.items() if key.endswith("_train_end"))])


def fold_windows(windows: dict[str, pd.Timestamp]) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """[start, end) of the rolling-origin folds before the validation window, latest first
    (fold j ends where fold j-1 starts; fold 1 ends at the validation window). Fold j's
    members train on what ends at ``cv<j>_train_end``, ``validation_days`` before its start."""
    out, end = [], windows["validation_start"]
    j = 1
    while f"cv{j}_start" in windows:
        out.append((windows[f"cv{j}_start"], end))
        end = windows[f"cv{j}_start"]
        j += 1
    return out


def prepare_city(plan: TrainingPlan, city: City, load: pd.DataFrame, weather: pd.DataFrame) -> CityPrepared:
    """One city's samples of every split, its scale, feature moments and test baselines.

    Depends on this city's rows and the plan only, which is why cities can be prepared in
    any order on any worker."""
    w, res, features = plan.windows, plan.resolution_minutes, plan.config.features
    ts = pd.to_datetime(load["ts"], utc=True)
    folds = fold_windows(w)
    # The scale comes from before the earliest fit's end, so no fold's samples depend on later data.
    scale = LoadPreprocessor.city_scale(city, load[(ts >= w["train_start"]) & (ts < earliest_fit_end(w))])
    pre = plan.preprocessor.with_scales({city.code: scale})
    horizon, lookback = pre.horizon, pre.lookback_steps()
    grid = pre.city_grid(city.code, load, weather, w["train_start"], w["end"])

    def pairs(lo: str, hi: str, intraday: bool) -> tuple[np.ndarray, np.ndarray]:
        return issue_pairs(grid.ts, city.tz, res, features, w[lo], w[hi], horizon, lookback, intraday=intraday)

    splits = {
        "train": pre.samples_at(grid, *pairs("train_start", "validation_start", True)),
        "validation": pre.samples_at(grid, *pairs("validation_start", "test_start", False)),
        "test": pre.samples_at(grid, *pairs("test_start", "end", False)),
        "full": pre.samples_at(grid, *pairs("train_start", "end", True)),
    }
    # Rolling-origin folds: each fold's window, and its training samples as a cut of "train"
    # (a role, not a copy: the object store holds the train split once).
    fold_train = []
    for j, (lo, hi) in enumerate(folds, start=1):
        splits[f"cv{j}"] = pre.samples_at(grid, *issue_pairs(grid.ts, city.tz, res, features, lo, hi, horizon, lookback,
                                                             intraday=False))
        fold_train.append(fold_train_role(w[f"cv{j}_train_end"], horizon, res))
    counts = {name: len(part) for name, part in splits.items()}
    moments = {name: Moments.of(splits[name].future[..., :-1]) for name in ("train", "full")}
    for role in fold_train:
        cut = split_of(splits, role)
        counts[role], moments[role] = len(cut), Moments.of(cut.future[..., :-1])
    test = splits["test"]
    reference = np.flatnonzero(test.lead == 0)
    baselines: dict[str, dict[int, np.ndarray]] = {name: {} for name in BASELINE_NAMES}
    for i in reference:
        origin = pd.Timestamp(test.origin[i]).tz_localize("UTC")
        for name, period in zip(BASELINE_NAMES, ("day", "week")):
            baselines[name][int(test.origin[i].astype(np.int64))] = seasonal_naive(load, origin, horizon, res, period).astype(np.float32)
    season = season_steps(res, "day")
    first_test = pd.Timestamp(test.origin[reference].min()).tz_localize("UTC") if len(reference) else w["test_start"]
    insample = load[ts < first_test]["load_mw"].to_numpy(float)[-season * 8:]
    summary = CitySummary(
        city=city.code, scale=scale, counts=counts, moments=moments,
        baselines=baselines, insample=insample,
    )
    return CityPrepared(summary, splits)


def assemble_training_data(plan: TrainingPlan, cities: list[City], summaries: dict[str, CitySummary], shapes: SampleShapes,
                           *, prepared: list[CityPrepared] | None = None, city_blocks: Any = None) -> TrainingData:
    """The prepared cities as one ``TrainingData``, after checking every split can be trained and scored on."""
    w = plan.windows
    for name in ("train", "validation", "test"):
        if not any(s.counts[name] for s in summaries.values()):
            raise TrainingDataError(f"the {name} window has no usable targets (data {w['train_start'].date()} .. {w['end'].date()})")
    pre = plan.preprocessor.with_scales({code: s.scale for code, s in summaries.items()})
    return TrainingData(pre, plan.resolution_minutes, [c.code for c in cities], dict(w), summaries, shapes,
                        prepared=prepared, city_blocks=city_blocks)


def build_training_data(cities: list[City], frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]], resolution_minutes: int,
                        config: TrainConfig) -> TrainingData:
    """Samples from in-memory load/weather frames per city (``data.schema`` shape), prepared in this process."""
    spans = {}
    for city in cities:
        load = frames[city.code][0]
        if load is None or load.empty:
            raise TrainingDataError(f"city '{city.code}': no load data to train on")
        ts = pd.to_datetime(load["ts"], utc=True)
        spans[city.code] = (ts.min(), ts.max())
    plan = plan_training(cities, spans, resolution_minutes, config)
    prepared = [prepare_city(plan, city, *frames[city.code]) for city in cities]
    summaries = {p.summary.city: p.summary for p in prepared}
    return assemble_training_data(plan, cities, summaries, SampleShapes.of(prepared[0].splits["train"]), prepared=prepared)


def _read_end(city: City, until: date | None) -> pd.Timestamp | None:
    if until is None:
        return None
    return pd.Timestamp(until + timedelta(days=1)).tz_localize(city.tz).tz_convert("UTC")


def plan_from_store(settings: PlatformSettings, config: TrainConfig, cities: list[City], until: date | None,
                    store=None) -> TrainingPlan:
    """The plan from the store's per-city spans and resolutions, without reading any series."""
    from data.stores import open_store

    store = store or open_store(settings)
    spans, resolutions = {}, {}
    for city in cities:
        span = spans[city.code] = store.load_span(city.code, before=_read_end(city, until))
        if span is None:
            raise TrainingDataError(f"city '{city.code}': no load data to train on")
        resolutions[city.code] = store.resolution_minutes(city.code)
    if len(set(resolutions.values())) > 1:
        detail = ", ".join(f"{c}: {r} min" for c, r in resolutions.items())
        raise TrainingDataError(f"cities have different resolutions ({detail}); train them separately with --cities")
    return plan_training(cities, spans, next(iter(resolutions.values())), config)


def read_city(settings: PlatformSettings, plan: TrainingPlan, code: str, store=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One city's load and observed weather inside the plan's windows: only its own
    partitions (lake: city and year) or rows (PostgreSQL) are read."""
    from data.stores import open_store

    store = store or open_store(settings)
    start, end = plan.read_start, plan.read_end
    return store.read_load(code, start, end), store.read_weather(code, start, end, kind="observed")


def prepare_stored_city(settings: PlatformSettings, plan: TrainingPlan, city: City, store=None) -> CityPrepared:
    """One city read from the store and prepared: what each city's Ray Data task runs."""
    return prepare_city(plan, city, *read_city(settings, plan, city.code, store))


def prepare_training_data(settings: PlatformSettings, config: TrainConfig, cities: list[str], until: date | None,
                          *, store=None, engine: Literal["ray", "local"] = "ray") -> TrainingData:
    """Training data for ``cities`` from the store, split by time.

    ``engine="ray"`` (training, tuning): each city is read and prepared in its own Ray Data
    task and its samples stay in the cluster; the driver keeps the summaries. ``"local"``
    (tiny bundles, tests): the same per-city preparation, in this process."""
    if not cities:
        raise TrainingDataError("no cities to train on (ingest data first, e.g. `efp generate`)")
    catalogue = load_catalogue(settings)
    city_objs = [catalogue.get(c) for c in cities]
    plan = plan_from_store(settings, config, city_objs, until, store)
    if engine == "local":
        prepared = [prepare_stored_city(settings, plan, city, store) for city in city_objs]
        summaries = {p.summary.city: p.summary for p in prepared}
        return assemble_training_data(plan, city_objs, summaries, SampleShapes.of(prepared[0].splits["train"]), prepared=prepared)
    from training.datasets import prepare_city_blocks

    blocks, summaries, shapes = prepare_city_blocks(city_objs, partial(prepare_stored_city, settings, plan))
    return assemble_training_data(plan, city_objs, summaries, shapes, city_blocks=blocks)
