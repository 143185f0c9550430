"""Observed weather on the block grid: monthly normals plus day-to-day weather.

Days get an AR(1) temperature anomaly and a chance of rain that follows the monthly
rainfall (so the south-west monsoon, Chennai's north-east monsoon and dry winters come
from the normals); a wet day is cooler, more humid and cloudier. Within the day,
temperature follows a cosine peaking mid-afternoon, humidity moves against temperature,
showers cluster in the afternoon and evening, and shortwave radiation follows the sun's
elevation dimmed by cloud.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from data.synthetic.profiles import Climate, WeatherParams


def monthly(values: list[float], month_position: np.ndarray) -> np.ndarray:
    """Cyclic linear interpolation of Jan..Dec normals (month_position 0 = mid-January)."""
    return np.interp(month_position, np.arange(12), np.asarray(values, dtype=float), period=12)


def month_position(dates: np.ndarray) -> np.ndarray:
    year_start = dates.astype("datetime64[Y]").astype("datetime64[D]")
    doy = (dates - year_start).astype(np.int64)
    return doy / 365.25 * 12.0 - 0.5


def ar1(innovations: np.ndarray, phi: float, sd: float) -> np.ndarray:
    """Stationary AR(1) with marginal standard deviation ``sd``."""
    return lfilter([sd * np.sqrt(1.0 - phi * phi)], [1.0, -phi], innovations)


_MINUTE_HOURS = np.arange(24 * 60) / 60.0


def bump(hour: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A Gaussian bump in hour of day, on the 24-hour circle (tabulated per minute: the
    generator calls this a dozen times over a million blocks)."""
    distance = (_MINUTE_HOURS - centre + 12.0) % 24.0 - 12.0
    table = np.exp(-0.5 * (distance / width) ** 2)
    return table[np.rint(np.asarray(hour) * 60.0).astype(np.int64) % (24 * 60)]


@dataclass(frozen=True)
class DailyWeather:
    temp: np.ndarray
    dtr: np.ndarray
    rh: np.ndarray
    cloud: np.ndarray
    rain_mm: np.ndarray
    wind: np.ndarray


def daily_weather(climate: Climate, params: WeatherParams, dates: np.ndarray, draws: dict[str, np.ndarray] | None) -> DailyWeather:
    """Daily state for every day of the stream frame; ``draws=None`` gives the climatology."""
    pos = month_position(dates)
    normal_temp = monthly(climate.temp_c, pos)
    rain_mean = monthly(climate.rain_mm, pos) / 30.4
    rh_normal = monthly(climate.rh_pct, pos)
    zeros = np.zeros(len(dates))
    if draws is None:
        anomaly, wet, amount, rh_noise, cloud_noise, wind = zeros, zeros, zeros, zeros, zeros, zeros
    else:
        anomaly = ar1(draws["temp"], params.temp_anomaly_phi, params.temp_anomaly_sd_c)
        p_wet = np.clip(rain_mean / params.rain_day_mm, 0.0, 0.85)
        amount = np.where(draws["rain_u"] < p_wet, rain_mean / np.maximum(p_wet, 1e-9) * draws["rain_amount"], 0.0)
        wet = np.clip(amount / 20.0, 0.0, 1.0)
        rh_noise, cloud_noise, wind = draws["rh"], draws["cloud"], draws["wind"]
    temp = normal_temp + anomaly - params.rain_cooling_c * wet
    return DailyWeather(
        temp=temp,
        dtr=monthly(climate.dtr_c, pos) * (1.0 - 0.4 * wet),
        rh=np.clip(rh_normal + 12.0 * wet + 4.0 * rh_noise - 1.5 * anomaly, 8.0, 98.0),
        cloud=np.clip(10.0 + 0.9 * (rh_normal - 35.0) + 45.0 * wet + 10.0 * cloud_noise, 0.0, 100.0),
        rain_mm=amount,
        wind=wind,
    )


def dew_point(temp: np.ndarray, rh: np.ndarray) -> np.ndarray:
    """Magnus formula."""
    gamma = np.log(np.maximum(rh, 1.0) / 100.0) + 17.62 * temp / (243.12 + temp)
    return 243.12 * gamma / (17.62 - gamma)


def apparent_temperature(temp: np.ndarray, rh: np.ndarray, wind_kmh: np.ndarray) -> np.ndarray:
    """Steadman's apparent temperature (as used by the Australian BoM): heat plus humidity."""
    vapour = rh / 100.0 * 6.105 * np.exp(17.27 * temp / (237.7 + temp))
    return temp + 0.33 * vapour - 0.7 * wind_kmh / 3.6 - 4.0


def clear_sky_radiation(ts_utc: np.ndarray, latitude: float, longitude: float) -> np.ndarray:
    """Clear-sky shortwave (W/m2) at the middle of each 15-minute block."""
    mid = ts_utc + np.timedelta64(450, "s")
    day = mid.astype("datetime64[D]")
    doy = (day - day.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1
    utc_hours = (mid - day).astype("timedelta64[s]").astype(np.int64) / 3600.0
    declination = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365.0)
    hour_angle = np.radians(15.0 * (utc_hours + longitude / 15.0 - 12.0))
    lat = np.radians(latitude)
    sin_elevation = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(hour_angle)
    return 1050.0 * np.maximum(sin_elevation, 0.0) ** 1.2


def between_days(values: np.ndarray, day: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """A daily value at each block, interpolated between day centres (noon) so that the
    weather does not jump at midnight."""
    position = day + hour / 24.0 - 0.5
    lower = np.clip(np.floor(position).astype(np.int64), 0, len(values) - 1)
    upper = np.clip(lower + 1, 0, len(values) - 1)
    weight = position - np.floor(position)
    return values[lower] * (1.0 - weight) + values[upper] * weight


def block_weather(
    daily: DailyWeather,
    day: np.ndarray,
    hour: np.ndarray,
    ts_utc: np.ndarray,
    latitude: float,
    longitude: float,
    coastal: bool,
    draws: dict[str, np.ndarray] | None,
) -> dict[str, np.ndarray]:
    """Weather values per block, named as in ``data.schema.WEATHER_VALUES``."""
    n = len(day)
    temp_day = between_days(daily.temp, day, hour)
    temp = temp_day + between_days(daily.dtr, day, hour) / 2.0 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
    rh = np.clip(between_days(daily.rh, day, hour) - 2.2 * (temp - temp_day), 5.0, 100.0)
    shower_shape = 0.4 + 2.0 * bump(hour, 17.0, 3.0)
    shower = shower_shape / shower_shape.mean() if n else shower_shape
    wind_noise = np.zeros(n) if draws is None else ar1(draws["wind"], 0.95, 2.0)
    shower_noise = np.ones(n) if draws is None else draws["shower"]
    precipitation = np.round(daily.rain_mm[day] / 96.0 * shower * shower_noise, 1)
    cloud = np.clip(between_days(daily.cloud, day, hour) + 20.0 * (precipitation > 0), 0.0, 100.0)
    wind = np.maximum(7.0 + 4.0 * coastal + 5.0 * bump(hour, 15.0, 4.0) + 2.5 * between_days(daily.wind, day, hour)
                      + wind_noise, 0.5)
    radiation = clear_sky_radiation(ts_utc, latitude, longitude) * (1.0 - 0.75 * (cloud / 100.0) ** 3)
    return {
        "temperature_c": np.round(temp, 1),
        "relative_humidity_pct": np.round(rh, 0),
        "dew_point_c": np.round(dew_point(temp, rh), 1),
        "precipitation_mm": precipitation,
        "cloud_cover_pct": np.round(cloud, 0),
        "wind_speed_kmh": np.round(wind, 1),
        "shortwave_radiation_wm2": np.round(radiation, 0),
    }
