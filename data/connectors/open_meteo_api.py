"""The Open-Meteo forecast and archive APIs over HTTP: what ``efp weather fetch`` stores as
``kind=forecast`` (the forecast API) or ``kind=observed`` (``--archive``: the historical archive).

One GET per city (hourly variables of the data contract, in the city's own timezone, wind
in km/h), through httpx with connect/read timeouts. Network errors, 429 and 5xx are
retried with exponential backoff (``weather.retries``, ``weather.backoff_s``); a 4xx is
the request's fault and is reported at once with the API's own ``reason``. When the
service stays unreachable the caller gets one line naming the URL and the last problem.
The base URLs are settings, so tests point them at a server on loopback.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone

import httpx

from data.catalogue import City
from data.connectors.open_meteo import VARIABLES, open_meteo_batch
from data.errors import InvalidFieldError, ServiceUnavailableError
from data.records import SourceBatch
from data.settings import WeatherSettings

MAX_FORECAST_DAYS = 16  # the longest horizon the forecast API serves
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class WeatherServiceError(ServiceUnavailableError):
    """The weather API could not be reached or kept failing (one line: URL and last problem)."""


class WeatherRequestRefused(WeatherServiceError):
    """The weather API answered a 4xx: this request (this city, these dates) is at fault, not the service."""


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("reason"):
            return str(body["reason"])
    except ValueError:
        pass
    return response.reason_phrase or "error"


def get_with_retries(url: str, params: dict[str, str | int | float], settings: WeatherSettings,
                     *, sleep=time.sleep) -> str:
    """The response body of a GET that eventually succeeded; ``WeatherServiceError`` otherwise."""
    problem = "no attempt made"
    timeout = httpx.Timeout(settings.timeout_s)
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        for attempt in range(settings.retries + 1):
            if attempt:
                sleep(settings.backoff_s * 2 ** (attempt - 1))
            try:
                response = client.get(url, params=params)
            except httpx.TimeoutException:
                problem = f"no answer within {settings.timeout_s:g} s"
                continue
            except httpx.TransportError as error:
                problem = f"unreachable ({type(error).__name__}: {error})"
                continue
            if response.status_code in RETRY_STATUSES:
                problem = f"HTTP {response.status_code} {_reason(response)}"
                continue
            if response.status_code >= 400:
                raise WeatherRequestRefused(f"weather API {url} refused the request: HTTP {response.status_code} {_reason(response)}")
            return response.text
    raise WeatherServiceError(f"weather API {url} failed after {settings.retries + 1} attempt(s): {problem}")


def _params(city: City) -> dict[str, str | int | float]:
    """What both APIs take: the city's position, the contract's variables, its own timezone, km/h."""
    return {"latitude": city.latitude, "longitude": city.longitude, "hourly": ",".join(VARIABLES),
            "timezone": city.timezone, "wind_speed_unit": "kmh"}


def fetch_forecast(settings: WeatherSettings, city: City, days: int, *, sleep=time.sleep) -> SourceBatch:
    """The next ``days`` days of hourly weather forecast for ``city``, issued now."""
    if not 1 <= days <= MAX_FORECAST_DAYS:
        raise InvalidFieldError("days", f"must be between 1 and {MAX_FORECAST_DAYS}, not {days}")
    issued_at = datetime.now(timezone.utc).replace(microsecond=0)
    text = get_with_retries(settings.forecast_url, {**_params(city), "forecast_days": days}, settings, sleep=sleep)
    return open_meteo_batch(text, settings.forecast_url, city=city.code, kind="forecast", issued_at=issued_at)


def fetch_archive(settings: WeatherSettings, city: City, start: date, end: date, *, sleep=time.sleep) -> SourceBatch:
    """Observed hourly weather of ``city`` for the local days ``start`` to ``end`` (both included)."""
    if end < start:
        raise InvalidFieldError("end", f"{end.isoformat()} is before start {start.isoformat()}")
    if end > datetime.now(city.tz).date():
        raise InvalidFieldError("end", f"{end.isoformat()} is in the future: the archive holds observations only")
    params = {**_params(city), "start_date": start.isoformat(), "end_date": end.isoformat()}
    text = get_with_retries(settings.archive_url, params, settings, sleep=sleep)
    return open_meteo_batch(text, settings.archive_url, city=city.code, kind="observed")
