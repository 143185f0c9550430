"""Electricity demand on the block grid, driven by time of day, calendar and weather.

load = scale x growth(t) x (daily profile x day-type factor + cooling + heating + festival)
       x (1 + AR(1) noise + white noise)

The daily profile has a morning peak, a daytime commercial plateau on working days and
an evening peak; cooling follows a lagged apparent temperature (air conditioning reacts
to heat and humidity with the building's thermal lag); northern cities add heating in
cold winters; Diwali adds evening lighting and Diwali/Holi lower daytime activity.
``scale`` puts the noise-free peak of the reference year at the city's ``peak_mw``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.signal import lfilter

from data.catalogue import City
from data.synthetic.profiles import Climate, LoadParams, climate_for, load_config
from data.synthetic.weather import apparent_temperature, ar1, block_weather, bump, daily_weather

#: Thermal lag of cooling demand (blocks): exponential smoothing with a ~2 h time constant.
COOLING_LAG = np.exp(-1.0 / 8.0)


@dataclass(frozen=True)
class DayTypes:
    """Per day of the stream frame: weekday (0 = Monday), holiday, Diwali, Holi."""

    weekday: np.ndarray
    holiday: np.ndarray
    diwali: np.ndarray
    holi: np.ndarray


def day_types(city: City, dates: np.ndarray) -> DayTypes:
    weekday = ((dates.astype(np.int64) + 3) % 7).astype(np.int8)  # 1970-01-01 was a Thursday
    years = sorted({int(y) + 1970 for y in np.unique(dates.astype("datetime64[Y]").astype(np.int64))})
    calendar = city.holiday_calendar(years)
    holiday = np.zeros(len(dates), dtype=bool)
    diwali = np.zeros(len(dates), dtype=bool)
    holi = np.zeros(len(dates), dtype=bool)
    first = dates[0] if len(dates) else np.datetime64("1970-01-01")
    for day, name in calendar.items():
        index = int((np.datetime64(day, "D") - first).astype(np.int64))
        if 0 <= index < len(dates):
            holiday[index] = True
            names = {part.strip() for part in name.split(";")}
            diwali[index] |= any(n.startswith(("Diwali", "Deepavali")) for n in names)
            holi[index] |= "Holi" in names
    return DayTypes(weekday, holiday, diwali, holi)


def relative_load(
    params: LoadParams,
    climate: Climate,
    hour: np.ndarray,
    day: np.ndarray,
    days: DayTypes,
    weather: dict[str, np.ndarray],
) -> np.ndarray:
    """Noise-free load in units of the scale (before growth)."""
    weekday = days.weekday[day]
    holiday = days.holiday[day]
    sunday = (weekday == 6) | holiday
    commercial = np.where(sunday, 0.15, np.where(weekday == 5, 0.6, 1.0))
    factor = np.where(holiday, params.holiday_factor, np.where(weekday == 6, params.sunday_factor,
                      np.where(weekday == 5, params.saturday_factor, 1.0)))
    profile = (
        params.base
        + params.morning_peak * bump(hour, 9.5, 1.8)
        + params.daytime_commercial * commercial * bump(hour, 13.5, 3.2)
        + params.evening_peak * bump(hour, 20.5, 1.9)
    ) * factor
    felt = apparent_temperature(weather["temperature_c"], weather["relative_humidity_pct"], weather["wind_speed_kmh"])
    if len(felt):
        felt = lfilter([1.0 - COOLING_LAG], [1.0, -COOLING_LAG], felt, zi=[COOLING_LAG * felt[0]])[0]
    occupancy = 0.75 + 0.35 * bump(hour, 15.0, 4.0) + 0.25 * bump(hour, 23.0, 3.0)
    cooling = params.cooling_per_c * np.maximum(felt - params.comfort_c, 0.0) * occupancy
    load = profile + cooling
    if climate.heating:
        cold = np.maximum(params.heating_below_c - weather["temperature_c"], 0.0)
        load = load + params.heating_per_c * cold * (0.4 + bump(hour, 7.5, 1.8) + 0.8 * bump(hour, 20.0, 2.5))
    diwali = days.diwali[day]
    festival = diwali | days.holi[day]
    load = load * (1.0 - params.festival_daytime_drop * festival * bump(hour, 13.0, 4.0))
    return load + params.diwali_evening * diwali * bump(hour, 20.5, 2.0)


@lru_cache(maxsize=256)
def peak_scale(city: City) -> float:
    """MW per relative-load unit: the climatological peak of the reference year = peak_mw."""
    config = load_config()
    climate = climate_for(city, config)
    year = config.reference_year
    dates = np.arange(np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01"))
    hours = np.tile(np.arange(96) / 4.0, len(dates))
    day = np.repeat(np.arange(len(dates)), 96)
    ts = (dates[day].astype("datetime64[m]") + (hours * 60).astype("timedelta64[m]")).astype("datetime64[us]")
    daily = daily_weather(climate, config.weather, dates, None)
    weather = block_weather(daily, day, hours, ts, city.latitude, city.longitude, climate.coastal, None)
    types = DayTypes(np.zeros(len(dates), np.int8), np.zeros(len(dates), bool), np.zeros(len(dates), bool),
                     np.zeros(len(dates), bool))
    return city.peak_mw / float(relative_load(config.load, climate, hours, day, types, weather).max())


def growth(params: LoadParams, reference_year: int, dates: np.ndarray) -> np.ndarray:
    years = (dates - np.datetime64(f"{reference_year}-01-01")).astype(np.int64) / 365.25
    return (1.0 + params.growth_per_year) ** years


def noise(params: LoadParams, load_draws: np.ndarray, white_draws: np.ndarray) -> np.ndarray:
    return 1.0 + ar1(load_draws, params.noise_phi, params.noise_sd) + params.white_noise_sd * white_draws
