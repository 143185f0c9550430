"""From stored history to training samples: clean, features per city, time-ordered split.

The split is by issue time and never shuffled across time: train issue times end so that
their whole horizon lies before the validation window, validation likewise before the
test window (the last ``test_days``). Every window forecasts each local day from the
day-ahead issue hours at every lead up to ``max_lead_hours`` (``issue_pairs``); training
adds ``origins_per_day`` intraday issue times.
Load-shedding, outlier and imputed blocks are masked out of the targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from data.catalogue import City, load_catalogue
from data.errors import PlatformError
from data.settings import PlatformSettings
from training.config import TrainConfig
from training.features.config import FeatureConfig
from training.features.grid import Samples
from training.preprocessor import LoadPreprocessor, steps_per_day


class TrainingDataError(PlatformError):
    """There is not enough (or inconsistent) data to train on; the message says which city and why."""


@dataclass
class TrainingData:
    preprocessor: LoadPreprocessor
    train: Samples
    validation: Samples
    test: Samples
    resolution_minutes: int
    cities: list[str]
    windows: dict[str, pd.Timestamp]
    loads: dict[str, pd.DataFrame] = field(default_factory=dict)  # cleaned load rows per city (for baselines)
    full: Samples | None = None  # training-style samples over every window, for the final refit

    @property
    def horizon(self) -> int:
        return self.preprocessor.horizon

    @property
    def n_cities(self) -> int:
        return len(self.preprocessor.city_index)

    def subset(self, city: str) -> "TrainingData":
        """The same data restricted to one city (per-city models)."""

        def pick(samples: Samples) -> Samples:
            return samples.take(np.flatnonzero(samples.cities == city))

        return TrainingData(self.preprocessor, pick(self.train), pick(self.validation), pick(self.test),
                            self.resolution_minutes, [city], self.windows, {city: self.loads[city]},
                            None if self.full is None else pick(self.full))

    def everything(self) -> "TrainingData":
        """The same data with every window to train on (the final refit); validation stays for progress lines."""
        if self.full is None:
            raise TrainingDataError("these training data were prepared without the all-windows samples")
        return TrainingData(self.preprocessor, self.full, self.validation, self.test, self.resolution_minutes,
                            self.cities, self.windows, self.loads, self.full)


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


def build_training_data(
    cities: list[City], frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]], resolution_minutes: int, config: TrainConfig,
    parallel_map=map,
) -> TrainingData:
    """Samples from in-memory load/weather frames per city (``data.schema`` shape)."""
    spd = steps_per_day(resolution_minutes)
    res = pd.Timedelta(minutes=resolution_minutes)
    ends = {}
    for city in cities:
        load = frames[city.code][0]
        if load is None or load.empty:
            raise TrainingDataError(f"city '{city.code}': no load data to train on")
        ends[city.code] = pd.to_datetime(load["ts"], utc=True).max() + res
    end = min(ends.values())
    tz = cities[0].tz
    test_start = (end.tz_convert(tz).normalize() - pd.Timedelta(days=config.split.test_days)).tz_convert("UTC")
    val_start = (test_start.tz_convert(tz) - pd.Timedelta(days=config.split.validation_days)).tz_convert("UTC")
    starts = {c: pd.to_datetime(frames[c][0]["ts"], utc=True).min() for c in frames}
    first = max(min(starts.values()).tz_convert(tz).floor("D").tz_convert("UTC"), end - pd.Timedelta(days=3650))
    if config.split.max_train_days:
        first = max(first, val_start - pd.Timedelta(days=config.split.max_train_days))
    train_loads = {c.code: _window(frames[c.code][0], first, val_start) for c in cities}
    pre = LoadPreprocessor.fit(cities, train_loads, resolution_minutes, config.horizon_days, config.features)
    horizon = pre.horizon
    if val_start - first < pd.Timedelta(minutes=resolution_minutes * (pre.lookback_steps() + horizon)) + pd.Timedelta(days=3):
        raise TrainingDataError(
            f"not enough history: need more than {config.split.validation_days + config.split.test_days} days of validation+test "
            f"plus {pre.lookback_steps() // spd + 4} days to train on, have data from {first.date()} to {end.date()}")

    def one_city(city: City) -> tuple[Samples, Samples, Samples, Samples]:
        load, weather = frames[city.code]
        grid = pre.city_grid(city.code, load, weather, first, end)
        lookback = pre.lookback_steps()
        features, res = config.features, resolution_minutes
        tr = issue_pairs(grid.ts, city.tz, res, features, first, val_start, horizon, lookback, intraday=True)
        va = issue_pairs(grid.ts, city.tz, res, features, val_start, test_start, horizon, lookback, intraday=False)
        te = issue_pairs(grid.ts, city.tz, res, features, test_start, end, horizon, lookback, intraday=False)
        everything = issue_pairs(grid.ts, city.tz, res, features, first, end, horizon, lookback, intraday=True)
        return (pre.samples_at(grid, *tr), pre.samples_at(grid, *va), pre.samples_at(grid, *te),
                pre.samples_at(grid, *everything))

    parts = list(parallel_map(one_city, cities))
    train, val, test, full = (Samples.concat([p[i] for p in parts]) for i in range(4))
    for name, part in (("train", train), ("validation", val), ("test", test)):
        if len(part) == 0 or not part.ymask.any():
            raise TrainingDataError(f"the {name} window has no usable targets (data {first.date()} .. {end.date()})")
    windows = {"train_start": first, "validation_start": val_start, "test_start": test_start, "end": end}
    loads = {c.code: frames[c.code][0] for c in cities}
    return TrainingData(pre, train, val, test, resolution_minutes, [c.code for c in cities], windows, loads, full)


def _window(frame: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    ts = pd.to_datetime(frame["ts"], utc=True)
    return frame[(ts >= lo) & (ts < hi)]


def read_city_frames(settings: PlatformSettings, codes: list[str], until: date | None, store=None) -> tuple[dict, int]:
    """Load and observed weather per city from the configured store, and their common resolution."""
    from data.stores import open_store

    store = store or open_store(settings)
    catalogue = load_catalogue(settings)
    frames, resolutions = {}, {}
    for code in codes:
        city = catalogue.get(code)
        end = None
        if until is not None:
            end = pd.Timestamp(until + timedelta(days=1)).tz_localize(city.tz).tz_convert("UTC")
        frames[code] = (store.read_load(code, None, end), store.read_weather(code, None, end, kind="observed"))
        resolutions[code] = store.resolution_minutes(code)
    if len(set(resolutions.values())) > 1:
        detail = ", ".join(f"{c}: {r} min" for c, r in resolutions.items())
        raise TrainingDataError(f"cities have different resolutions ({detail}); train them separately with --cities")
    return frames, next(iter(resolutions.values()))


def prepare_training_data(settings: PlatformSettings, config: TrainConfig, cities: list[str], until: date | None,
                          *, store=None, parallel: bool = True) -> TrainingData:
    """Read each city's history (from the store), build features per city in parallel, split by time."""
    if not cities:
        raise TrainingDataError("no cities to train on (ingest data first, e.g. `efp generate`)")
    catalogue = load_catalogue(settings)
    city_objs = [catalogue.get(c) for c in cities]
    frames, resolution = read_city_frames(settings, [c.code for c in city_objs], until, store)
    mapper = map
    if parallel and len(city_objs) > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=min(4, len(city_objs)))
        mapper = pool.map
    return build_training_data(city_objs, frames, resolution, config, parallel_map=mapper)

