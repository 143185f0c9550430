"""The preprocessor: fitted state (city scales, city encoding, feature list) plus the
feature function that training and serving both call.

Load is divided by a per-city scale (the city's mean load over the training window) so a
single global model serves cities of any size; the city index is a feature (XGBoost) or
an embedding (sequence members). Everything here is numpy and JSON, so the state saves
with a model version and loads in any Serve replica.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.catalogue import City
from data.errors import InvalidFieldError, NotFoundError
from training.api import ForecastInput
from training.features.config import FeatureConfig
from training.features.grid import COVARIATES, HIST_FEATURES, Samples, build_grid, cut_samples, future_feature_names, regular_grid
from training.features.weather import align_weather


class ForecastInputError(InvalidFieldError):
    """A forecast request cannot be answered by this model (resolution, horizon): a 4xx, not a 500.

    It names the request field at fault, so the HTTP API can point at it without reading the text.
    """


class CityNotInModelError(ForecastInputError, NotFoundError):
    """The model version was not trained on the requested city (HTTP 404)."""

    exit_code = NotFoundError.exit_code  # a missing thing first, whatever ForecastInputError's code


@dataclass
class FeatureSet:
    """One request's features, handed to every member (picklable, numpy only)."""

    city: str
    horizon: int
    start: pd.Timestamp
    timestamps: pd.DatetimeIndex
    samples: Samples  # one sample
    notes: list[str] = field(default_factory=list)
    as_of: pd.Timestamp | None = None  # the issue time: nothing at or after it was read
    data_until: pd.Timestamp | None = None  # end of the last known load block (the features' origin)
    lead_steps: int = 0  # steps from data_until to start

    # A feature set crosses a process boundary per Serve hop: its times travel as int64
    # (UTC epoch, the index's own unit), which unpickle 3-4x faster than pandas objects.
    _TIMES = ("start", "as_of", "data_until")

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        # Not rebuilt when it is an index already: pickled once per member per request, the copy was
        # most of this method's time in the ingress's profile. An aware index's asi8 is UTC epoch.
        index = self.timestamps if isinstance(self.timestamps, pd.DatetimeIndex) else pd.DatetimeIndex(self.timestamps)
        if index.tz is None:
            raise TypeError("FeatureSet.timestamps must carry a timezone (the horizon's UTC interval starts)")
        state["timestamps"] = (index.asi8, index.unit)
        for name in self._TIMES:
            stamp = state[name]
            state[name] = None if stamp is None else pd.Timestamp(stamp).value  # epoch ns, whatever the zone
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        values, unit = state["timestamps"]
        state["timestamps"] = pd.DatetimeIndex(values.view(f"datetime64[{unit}]"), tz="UTC")
        for name in self._TIMES:
            if state[name] is not None:
                state[name] = pd.Timestamp(state[name], tz="UTC")
        self.__dict__.update(state)


def steps_per_day(resolution_minutes: int) -> int:
    return 1440 // resolution_minutes


class LoadPreprocessor:
    """Implements ``training.api.Preprocessor``; construct with ``fit`` or ``from_state``."""

    def __init__(self, state: dict) -> None:
        self.state = state
        self.cfg = FeatureConfig.model_validate(state["features"])
        self.resolution_minutes: int = state["resolution_minutes"]
        self.horizon: int = state["horizon"]
        self.lag_days: list[int] = state["lag_days"]
        self.city_scales: dict[str, float] = state["city_scales"]
        self.city_index: dict[str, int] = state["city_index"]
        self.cities: dict[str, City] = {code: City.model_validate(c) for code, c in state["cities"].items()}

    # -- fitting -------------------------------------------------------------------------
    @classmethod
    def fit(cls, cities: list[City], loads: dict[str, pd.DataFrame], resolution_minutes: int, horizon_days: int,
            cfg: FeatureConfig) -> "LoadPreprocessor":
        """Fitted state from the training window's load (``loads`` must end before validation)."""
        spd = steps_per_day(resolution_minutes)
        # Every lag is kept: at a given step it is used only where it falls before the last known load.
        lag_days = sorted(set(cfg.lag_days) | {7 * math.ceil(horizon_days / 7)})
        scales = {city.code: cls.city_scale(city, loads.get(city.code)) for city in cities}
        state = {
            "features": cfg.model_dump(), "resolution_minutes": resolution_minutes, "horizon": horizon_days * spd,
            "history_steps": cfg.history_days * spd, "lag_days": lag_days, "city_scales": scales,
            "max_lead_steps": int(cfg.max_lead_hours * 60 // resolution_minutes),
            "city_index": {c.code: i for i, c in enumerate(sorted(cities, key=lambda c: c.code))},
            "cities": {c.code: c.model_dump() for c in cities},
            "future_features": future_feature_names(lag_days), "hist_features": list(HIST_FEATURES),
        }
        return cls(state)

    @classmethod
    def from_state(cls, state: dict) -> "LoadPreprocessor":
        return cls(state)

    @staticmethod
    def city_scale(city: City, train_load: pd.DataFrame | None) -> float:
        """MW per scaled unit: the city's mean load over the training window (typical peak x 0.6 without one).

        It depends on that city's rows only, so each city's data task computes its own
        and the fitted state is completed from the results (``with_scales``)."""
        values = train_load["load_mw"].to_numpy(dtype=float) if train_load is not None else np.array([])
        mean = float(np.nanmean(values)) if values.size and np.isfinite(values).any() else city.peak_mw * 0.6
        return mean if mean > 0 else city.peak_mw * 0.6

    def with_scales(self, scales: dict[str, float]) -> "LoadPreprocessor":
        """The same preprocessor with these cities' scales replaced."""
        return LoadPreprocessor({**self.state, "city_scales": {**self.city_scales, **scales}})

    @property
    def history_steps(self) -> int:
        return self.state["history_steps"]

    @property
    def max_lead_steps(self) -> int:
        return self.state["max_lead_steps"]

    @property
    def feature_names(self) -> list[str]:
        return list(self.state["future_features"])

    def schema_hash(self) -> str:
        """Hash of everything that shapes the features; equal hashes mean interchangeable inputs."""
        keys = ("features", "resolution_minutes", "horizon", "history_steps", "lag_days", "max_lead_steps", "future_features",
                "hist_features")
        payload = json.dumps({k: self.state[k] for k in keys}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    # -- the feature function ------------------------------------------------------------
    def lookback_steps(self) -> int:
        spd = steps_per_day(self.resolution_minutes)
        return max(self.history_steps, max(self.lag_days) * spd) + spd

    def history_needed(self, resolution_minutes: int) -> pd.Timedelta:
        """Load before ``start`` to read: the look-back from the earliest origin the model accepts."""
        return pd.Timedelta(minutes=(self.lookback_steps() + self.max_lead_steps) * self.resolution_minutes)

    def city_grid(self, code: str, load: pd.DataFrame, weather: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp):
        grid = regular_grid(start, end, self.resolution_minutes)
        return build_grid(self.cities[code], load, weather, grid, self.city_scales[code], self.resolution_minutes, self.cfg)

    def samples_at(self, grid, origins: np.ndarray, leads: np.ndarray | int = 0) -> Samples:
        """Samples whose known load ends at grid indices ``origins``, targets ``leads`` steps later."""
        code = grid.city
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return cut_samples(grid, origins, np.asarray(leads), self.horizon, self.history_steps, self.lag_days,
                               steps_per_day(self.resolution_minutes), self.city_index[code], self.city_scales[code])

    def _check(self, inp: ForecastInput) -> None:
        if inp.city not in self.cities:
            raise CityNotInModelError("city", f"'{inp.city}' is not covered by this model (trained on {', '.join(self.cities)})")
        if inp.resolution_minutes != self.resolution_minutes:
            raise ForecastInputError(
                "city", f"'{inp.city}' has {inp.resolution_minutes}-minute data but the model was trained at {self.resolution_minutes} minutes")
        if not 1 <= inp.horizon <= self.horizon:
            raise ForecastInputError("horizon", f"{inp.horizon} steps is outside 1..{self.horizon} for this model")

    def features(self, inp: ForecastInput) -> FeatureSet:
        """Features of one request, from load known before the issue time only.

        The origin is where known load ends (``data_until``), which late data moves back:
        the lead grows and the lags that now fall after the origin drop out, as in training,
        instead of the inputs turning into a gap the model never saw. Missing horizon
        weather is filled from climatology (noted).
        """
        self._check(inp)
        start = pd.Timestamp(inp.start).tz_convert("UTC")
        as_of = start if inp.as_of is None else min(pd.Timestamp(inp.as_of).tz_convert("UTC"), start)
        res = pd.Timedelta(minutes=self.resolution_minutes)
        history = inp.history
        if history is not None and not history.empty:
            # A block is known once it has ended: its value is the average over the whole interval.
            history = history[pd.to_datetime(history["ts"], utc=True) + res <= as_of]
            history = history[history["load_mw"].notna()]
        max_hours = self.max_lead_steps * res / pd.Timedelta(hours=1)
        if history is None or history.empty:
            raise ForecastInputError("start", f"no load of '{inp.city}' is known in the {max_hours:.0f} h before "
                                     f"{start.isoformat()}: this model forecasts at most {max_hours:.0f} h after the last known load")
        data_until = pd.to_datetime(history["ts"], utc=True).max() + res
        lead = int((start - data_until) / res)
        if lead > self.max_lead_steps:
            raise ForecastInputError(
                "start", f"{start.isoformat()} is {lead * res / pd.Timedelta(hours=1):.1f} h after the last known load "
                f"({data_until.isoformat()}); this model forecasts at most {max_hours:.0f} h ahead")
        window_start = data_until - self.lookback_steps() * res
        end = start + self.horizon * res
        weather, notes = self._fill_weather(inp.weather, window_start, start, end, inp.city)
        notes = [*inp.notes, *notes]
        grid = self.city_grid(inp.city, history, weather, window_start, end)
        origin = int(np.searchsorted(grid.ts, data_until))
        samples = self.samples_at(grid, np.array([origin]), np.array([lead]))
        if data_until < as_of - pd.Timedelta(days=1):
            notes.append(f"no recent load: the last known block ends {data_until.isoformat()}, "
                         f"{(as_of - data_until) / pd.Timedelta(hours=1):.1f} h before the issue time")
        timestamps = grid.ts[origin + lead:origin + lead + inp.horizon]
        return FeatureSet(inp.city, inp.horizon, start, timestamps, samples, notes, as_of, data_until, lead)

    def _fill_weather(self, weather: pd.DataFrame, window_start, start, end, city: str) -> tuple[pd.DataFrame, list[str]]:
        """Horizon weather as given; gaps in it are filled with the history's mean by local hour."""
        horizon_grid = regular_grid(start, end, self.resolution_minutes)
        aligned = align_weather(weather, horizon_grid)
        if not aligned["temperature_c"].isna().any():
            return weather, []
        past = align_weather(weather, regular_grid(window_start, start, self.resolution_minutes))
        tz = self.cities[city].tz
        by_hour = past.groupby(past.index.tz_convert(tz).hour).mean()
        hours = horizon_grid.tz_convert(tz).hour
        fill = by_hour.reindex(hours)
        fill.index = horizon_grid
        filled = aligned.fillna(fill)
        if filled["temperature_c"].isna().all():
            return weather, ["no horizon weather and no weather history: weather features left empty"]
        rows = filled[aligned["temperature_c"].isna()].reset_index(names="ts")
        rows["city"], rows["kind"] = city, "climatology"
        merged = pd.concat([weather, rows], ignore_index=True) if weather is not None and not weather.empty else rows
        return merged, [f"horizon weather missing for {int(aligned['temperature_c'].isna().sum())} steps: filled from climatology"]


__all__ = ["COVARIATES", "CityNotInModelError", "FeatureSet", "ForecastInputError", "LoadPreprocessor", "steps_per_day"]
