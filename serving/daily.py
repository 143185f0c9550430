"""The daily job: fetch the weather forecast, issue every city's day-ahead forecast, keep it,
warm the cache, export it.

A live run (no ``as_of``) first fetches each city's weather forecast from the Open-Meteo
forecast API and stores it (``kind=forecast``, issued now), so the forecasts issued next use
it. A failed fetch does not stop the job: it logs one line and the city is forecast with the
weather already stored (older forecasts, else climatology), which its ``notes`` say. After a
service-wide failure (unreachable, 5xx after the retries) the other cities are not tried, so a
weather outage costs one city's retries, not every city's. A run with ``as_of`` (a backfill,
a reproduction) fetches nothing: a forecast issued in the past cannot use weather fetched now.

It drives the same ``ForecastService`` the HTTP API does (over the in-process engine), so
a scheduled forecast is computed, validated and cached exactly as a served one: the cache
key of "DEL, tomorrow, as of now" is the one a user's ``{"city": "DEL"}`` request asks for,
and with Redis configured the service finds it warm. Forecasts are recorded as
``source=scheduled``; the day's stored forecasts are then exported as one Parquet file
for analytics tools.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from data.catalogue import Catalogue, City, load_catalogue
from data.connectors.open_meteo_api import WeatherRequestRefused, WeatherServiceError, fetch_forecast
from data.errors import InvalidFieldError, PlatformError
from data.pipeline import ingest
from data.settings import PlatformSettings
from data.stores import open_forecasts, open_store
from serving.schemas import ForecastRequest
from serving.wiring import local_state

log = logging.getLogger("efp.daily")


class DailyItem(BaseModel):
    city: str
    target_day: date | None  # None when the forecast failed before its day was known
    status: str  # "stored" or the error's one-line message
    model_version: str | None = None
    degraded: bool | None = None
    blocks: int = 0
    weather: str | None = None  # "fetched N rows", "not fetched: <why>", or None when not asked (a run with as_of)
    notes: list[str] = []  # the forecast's notes (weather source, gaps), and the failed weather fetch


class DailyReport(BaseModel):
    """What ``efp forecasts run --json`` prints."""

    as_of: datetime | None
    items: list[DailyItem]
    cache: str  # "redis" (warm for every replica) or "in-process" (this run only)
    export: str | None


def default_export_dir(settings: PlatformSettings) -> Path:
    return settings.data_dir / "exports" / "forecasts"


def _cities(settings: PlatformSettings, catalogue: Catalogue, codes: list[str] | None) -> list[City]:
    if codes:
        return [catalogue.get(code) for code in codes]
    stored = set(open_store(settings).cities())
    return [city for city in catalogue if city.code in stored]


def fetch_weather(settings: PlatformSettings, catalogue: Catalogue, cities: list[City]) -> dict[str, str]:
    """Fetch and store each city's weather forecast; city code -> what happened (``"fetched N rows"``
    or ``"not fetched: <one line>"``)."""
    outcome: dict[str, str] = {}
    outage: str | None = None
    for city in cities:
        if outage is None:
            try:
                summary = ingest(fetch_forecast(settings.weather, city, settings.weather.daily_days), settings, catalogue=catalogue)
                outcome[city.code] = f"fetched {summary.accepted + summary.repaired} rows"
                continue
            except WeatherRequestRefused as error:
                problem = str(error)
            except WeatherServiceError as error:
                problem = outage = str(error)
            except PlatformError as error:  # the answer did not parse or validate
                problem = str(error)
        else:
            problem = f"{outage} (not tried again for this city)"
        log.warning("weather forecast for %s not fetched, forecasting with the weather stored: %s", city.code, problem)
        outcome[city.code] = f"not fetched: {problem}"
    return outcome


def _request(city: City, day: date | None, as_of: datetime | None) -> ForecastRequest:
    """The request a user would send: no start means the day after the issue time (tomorrow)."""
    start = None if day is None else datetime.combine(day, time(0))
    return ForecastRequest(city=city.code, start=start, as_of=as_of)


def export_day(settings: PlatformSettings, day: date, cities: list[str], folder: Path) -> Path | None:
    """Every stored forecast for ``day`` of these cities, one row per block, to ``folder/date=DAY/forecasts.parquet``."""
    store = open_forecasts(settings)
    parts = []
    for code in cities:
        blocks = store.read(code, pd.Timestamp(day, tz="UTC") - pd.Timedelta(days=1), pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=2))
        parts.append(blocks[blocks["target_day"] == day])
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        return None
    path = folder / f"date={day.isoformat()}" / "forecasts.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f".{uuid.uuid4().hex}.tmp"
    frame.to_parquet(temp, index=False)
    os.replace(temp, path)
    return path


async def _issue(settings: PlatformSettings, requests: list[ForecastRequest]) -> tuple[list[dict | PlatformError], str]:
    state = local_state(settings, record_source="scheduled")
    service = state.service
    try:
        results = await service.forecast_many(requests, use_cache=True)
    finally:
        await service.stop()  # flushes the recorder: every forecast is stored before the export reads them
    return results, "redis" if service.cache.shared else "in-process"


def run_daily(settings: PlatformSettings, *, cities: list[str] | None = None, day: date | None = None,
              as_of: datetime | None = None, export_dir: Path | None = None) -> DailyReport:
    """Fetch the weather (live runs), then issue, store and cache the day-ahead forecast of every
    city (default: tomorrow as of now) and export the day as Parquet."""
    catalogue = load_catalogue(settings)
    targets = _cities(settings, catalogue, cities)
    if not targets:
        raise InvalidFieldError("cities", "no city has load stored: ingest data first (efp generate / efp ingest)")
    weather = fetch_weather(settings, catalogue, targets) if as_of is None and settings.weather.daily_fetch else {}
    requests = [_request(city, day, as_of) for city in targets]
    results, cache = asyncio.run(_issue(settings, requests))
    items: list[DailyItem] = []
    days: set[date] = set()
    for city, result in zip(targets, results):
        fetched = weather.get(city.code)
        failed_fetch = [f"weather forecast {fetched}"] if fetched and fetched.startswith("not fetched") else []
        if isinstance(result, PlatformError):
            items.append(DailyItem(city=city.code, target_day=day, status=str(result), weather=fetched, notes=failed_fetch))
            continue
        first = pd.Timestamp(result["points"][0]["ts"]).tz_convert(city.tz)
        days.add(first.date())
        items.append(DailyItem(city=city.code, target_day=first.date(), status="stored", model_version=result["model_version"],
                               degraded=result["degraded"], blocks=len(result["points"]), weather=fetched,
                               notes=[*failed_fetch, *(result.get("notes") or [])]))
    folder = export_dir or default_export_dir(settings)
    exports = [export_day(settings, d, [i.city for i in items if i.status == "stored"], folder) for d in sorted(days)]
    written = [str(p) for p in exports if p is not None]
    return DailyReport(as_of=as_of, items=items, cache=cache, export=", ".join(written) or None)
