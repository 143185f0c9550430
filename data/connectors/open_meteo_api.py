"""The Open-Meteo forecast API over HTTP: what ``efp weather fetch`` stores as ``kind=forecast``.

One GET per city (hourly variables of the data contract, in the city's own timezone, wind
in km/h), through httpx with connect/read timeouts. Network errors, 429 and 5xx are
retried with exponential backoff (``weather.retries``, ``weather.backoff_s``); a 4xx is
the request's fault and is reported at once with the API's own ``reason``. When the
service stays unreachable the caller gets one line naming the URL and the last problem.
The base URL is a setting, so tests point it at a server on loopback.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

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
                raise WeatherServiceError(f"weather API {url} refused the request: HTTP {response.status_code} {_reason(response)}")
            return response.text
    raise WeatherServiceError(f"weather API {url} failed after {settings.retries + 1} attempt(s): {problem}")


def fetch_forecast(settings: WeatherSettings, city: City, days: int, *, sleep=time.sleep) -> SourceBatch:
    """The next ``days`` days of hourly weather forecast for ``city``, issued now."""
    if not 1 <= days <= MAX_FORECAST_DAYS:
        raise InvalidFieldError("days", f"must be between 1 and {MAX_FORECAST_DAYS}, not {days}")
    issued_at = datetime.now(timezone.utc).replace(microsecond=0)
    params: dict[str, str | int | float] = {
        "latitude": city.latitude, "longitude": city.longitude, "hourly": ",".join(VARIABLES),
        "forecast_days": days, "timezone": city.timezone, "wind_speed_unit": "kmh",
    }
    text = get_with_retries(settings.forecast_url, params, settings, sleep=sleep)
    return open_meteo_batch(text, settings.forecast_url, city=city.code, kind="forecast", issued_at=issued_at)
