"""Build a ``ForecastInput`` from the stores: history before the issue time, and weather.

Horizon weather, in order of preference: forecasts stored for the city (kind=forecast,
newest issue per timestamp), a caller's override (e.g. the HTTP request), observed
weather if the horizon is already in the past (backtests: "weather taken as observed"),
else nothing, and the preprocessor fills from climatology (noted in the result).
"""

from __future__ import annotations

import pandas as pd

from data.settings import PlatformSettings
from training.api import ForecastInput

NOTE_OBSERVED = "weather taken as observed"
NOTE_FORECAST = "weather from stored forecasts"
NOTE_OVERRIDE = "weather supplied with the request"


def _newest_forecasts(frame: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per timestamp, the newest forecast issued strictly before ``as_of`` (a later one was not known then)."""
    if frame.empty or "issued_at" not in frame:
        return frame
    issued = pd.to_datetime(frame["issued_at"], utc=True)
    known = frame[issued.notna() & (issued < as_of)]
    return known.sort_values(["ts", "issued_at"]).drop_duplicates("ts", keep="last")


def _covers(frame: pd.DataFrame | None, start: pd.Timestamp, end: pd.Timestamp) -> bool:
    if frame is None or frame.empty or "temperature_c" not in frame:
        return False
    ts = pd.to_datetime(frame["ts"], utc=True)
    inside = frame[(ts >= start) & (ts < end)]
    return bool(len(inside)) and inside["temperature_c"].notna().any()


def build_forecast_input(
    settings: PlatformSettings, city: str, start: pd.Timestamp, horizon: int, *, bundle_or_preprocessor,
    weather_override: pd.DataFrame | None = None, store=None, as_of: pd.Timestamp | None = None,
) -> ForecastInput:
    """The input for one forecast issued at ``as_of`` (default: ``start``): load and observed
    weather strictly before it, weather forecasts issued before it; the weather source chosen
    is recorded in ``inp.notes``."""
    from data.stores import open_store

    store = store or open_store(settings)
    pre = getattr(bundle_or_preprocessor, "preprocessor", bundle_or_preprocessor)
    resolution = store.resolution_minutes(city)
    start = _utc(start)
    as_of = start if as_of is None else min(_utc(as_of), start)
    lookback = pre.history_needed(resolution)
    end = start + pd.Timedelta(minutes=resolution * horizon)
    history = store.read_load(city, start - lookback, as_of)
    past_weather = store.read_weather(city, start - lookback, as_of, kind="observed")
    notes: list[str] = []
    forecasts = _newest_forecasts(store.read_weather(city, as_of, end, kind="forecast"), as_of)
    if _covers(forecasts, start, end):
        horizon_weather, notes = forecasts, [NOTE_FORECAST]
    elif _covers(weather_override, start, end):
        horizon_weather, notes = weather_override, [NOTE_OVERRIDE]
    else:
        observed = store.read_weather(city, start, end, kind="observed")
        if _covers(observed, start, end):
            horizon_weather, notes = observed, [NOTE_OBSERVED]
        else:
            horizon_weather = past_weather.iloc[0:0]
    weather = pd.concat([f for f in (past_weather, horizon_weather) if f is not None and not f.empty], ignore_index=True) \
        if not (past_weather.empty and horizon_weather.empty) else past_weather
    return ForecastInput(city=city, start=start, horizon=horizon, resolution_minutes=resolution, history=history,
                         weather=weather, notes=notes, as_of=as_of)


def _utc(stamp: pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(stamp)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
