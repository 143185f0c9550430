"""The synthetic model's parameters, read from ``synthetic.yaml`` of the configs folder.

Climate is given as monthly normals per city because that is what public climatology
(IMD normals) looks like and what makes seasons recognisable; a city without a profile
(a user's own, possibly in another hemisphere) gets one derived from its latitude.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from data.catalogue import City
from data.config_files import config_path, load_yaml_model

Monthly = list[float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Climate(_Model):
    """Monthly normals (January first) of one city."""

    temp_c: Monthly = Field(min_length=12, max_length=12, description="Mean daily temperature.")
    dtr_c: Monthly = Field(min_length=12, max_length=12, description="Diurnal temperature range.")
    rain_mm: Monthly = Field(min_length=12, max_length=12, description="Monthly rainfall.")
    rh_pct: Monthly = Field(min_length=12, max_length=12, description="Mean relative humidity.")
    heating: bool = Field(False, description="Cold winters drive heating load (north India).")
    coastal: bool = Field(False, description="Sea breeze: steadier wind, humid nights.")


class WeatherParams(_Model):
    temp_anomaly_sd_c: float = Field(gt=0)
    temp_anomaly_phi: float = Field(ge=0, lt=1)
    rain_cooling_c: float = Field(ge=0)
    rain_day_mm: float = Field(gt=0)


class LoadParams(_Model):
    growth_per_year: float
    base: float = Field(gt=0)
    morning_peak: float = Field(ge=0)
    daytime_commercial: float = Field(ge=0)
    evening_peak: float = Field(ge=0)
    saturday_factor: float = Field(gt=0)
    sunday_factor: float = Field(gt=0)
    holiday_factor: float = Field(gt=0)
    cooling_per_c: float = Field(ge=0)
    comfort_c: float
    heating_per_c: float = Field(ge=0)
    heating_below_c: float
    diwali_evening: float = Field(ge=0)
    festival_daytime_drop: float = Field(ge=0, lt=1)
    noise_sd: float = Field(ge=0)
    noise_phi: float = Field(ge=0, lt=1)
    white_noise_sd: float = Field(ge=0)


class FaultKind(_Model):
    weight: float = Field(ge=0, description="Share of faulty blocks given this fault.")
    blocks: tuple[int, int] = Field(description="Length of one fault in blocks, [min, max].")
    cut: tuple[float, float] | None = Field(None, description="Load-shedding supply cut, share of demand.")

    @property
    def mean_blocks(self) -> float:
        return (self.blocks[0] + self.blocks[1]) / 2


class FaultParams(_Model):
    missing: FaultKind
    shedding: FaultKind
    duplicate: FaultKind
    spike: FaultKind
    flatline: FaultKind


class SyntheticConfig(_Model):
    reference_year: int
    climates: dict[str, Climate]
    weather: WeatherParams
    load: LoadParams
    faults: FaultParams


def load_config(path: Path | None = None) -> SyntheticConfig:
    """``path``, else synthetic.yaml of the configs folder (looked up on each call, read once per file)."""
    return _load_config(Path(path) if path is not None else config_path("synthetic.yaml"))


@lru_cache(maxsize=4)
def _load_config(path: Path) -> SyntheticConfig:
    # Every generated block asks for the parameters; the file is parsed once.
    return load_yaml_model(path, SyntheticConfig)


def latitude_climate(latitude: float) -> Climate:
    """A plausible climate from latitude alone: warmer and less seasonal near the equator,
    summer in July north of it and in January south of it, rain in the warm season."""
    distance = abs(latitude)
    annual_mean = 28.0 - 0.42 * max(0.0, distance - 12.0)
    amplitude = 1.5 + 0.32 * distance
    months = np.arange(12)
    warmest = 6 if latitude >= 0 else 0
    season = np.cos(2 * np.pi * (months - warmest) / 12)
    temp = annual_mean + amplitude * season
    rain = 60.0 + 40.0 * season
    return Climate(
        temp_c=[round(float(v), 1) for v in temp],
        dtr_c=[10.0] * 12,
        rain_mm=[round(float(v), 1) for v in rain],
        rh_pct=[round(float(v), 1) for v in 65.0 + 5.0 * season],
        heating=distance > 23.0,
    )


def climate_for(city: City, config: SyntheticConfig) -> Climate:
    return config.climates.get(city.code) or latitude_climate(city.latitude)
