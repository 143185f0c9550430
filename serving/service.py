"""The forecast service behind the HTTP routes: resolve the model version, check the
request against it, answer from the cache or the engine, and watch the registry.

It knows nothing of HTTP (``serving.api.errors`` maps its errors to status codes by class)
and nothing of Ray (the engine is either the Serve graph or the in-process ensemble).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any

import orjson
import pandas as pd

from data.catalogue import Catalogue, City
from data.errors import PlatformError
from data.settings import PlatformSettings
from serving.cache import ResponseCache, cache_key
from serving.engines import ForecastEngine, ForecastJob
from serving.local_times import local_isoformat
from serving.metrics import ServiceMetrics
from serving.model_directory import ModelDirectory
from serving.recorder import ForecastRecorder
from serving.timing import span
from serving.schemas import QUANTILE_FIELDS, ALLOWED_QUANTILES, FieldError, ForecastRequest, horizon_steps
from training.forecast import EnsembleForecast
from training.registry import ModelVersion

log = logging.getLogger("efp.serving")
#: How the stored body says it was computed fresh; a hit flips it (the only top-level "cached" key).
CACHED_FALSE, CACHED_TRUE = b'"cached":false', b'"cached":true'
#: Takes ``cost`` rate-limit tokens from the caller's budget, or raises (429, or 422 over capacity).
Charge = Callable[[float], Awaitable[None]]
#: What an answer served from the response cache costs: the same as any other cheap request.
CACHE_HIT_COST = 1.0


def _as_hit(raw: bytes) -> bytes:
    """A stored body as a cache hit (bodies cached before orjson have a space after the colon)."""
    if CACHED_FALSE in raw:
        return raw.replace(CACHED_FALSE, CACHED_TRUE, 1)
    return raw.replace(b'"cached": false', b'"cached": true', 1)


def forecast_cost(job: ForecastJob) -> int:
    """Rate-limit tokens a computed forecast costs: one per forecast-day (a part day counts whole).

    A 7-day forecast computed fresh costs 7, the same forecast from the cache 1
    (``CACHE_HIT_COST``), so a batch of 200 uncached week-ahead forecasts costs 1400.
    """
    return max(1, math.ceil(job.horizon * job.resolution_minutes / 1440))


async def _free(_: float) -> None:
    """The charge of a caller with no budget (the daily job, auth off)."""


def default_start(city: City, now: datetime | None = None) -> pd.Timestamp:
    """Next day 00:00 in the city's timezone, as UTC."""
    local_now = pd.Timestamp(now or datetime.now(timezone.utc)).tz_convert(city.tz)
    return (local_now.normalize() + pd.Timedelta(days=1)).tz_convert("UTC")


def _local_or_utc(city: City, value: datetime, field: str) -> pd.Timestamp:
    """A request time in UTC; a naive one is the city's local time (a time the clocks skip or repeat is refused)."""
    return _in_utc(value, city.tz, field)


@functools.lru_cache(maxsize=4096)
def _in_utc(value: datetime, tz: tzinfo, field: str) -> pd.Timestamp:
    """``_local_or_utc``, cached (a refusal is raised each time, never kept): requests repeat their
    times (tomorrow's day-ahead start), and pandas' localisation was the largest piece of a cache
    hit's own work in the ingress."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        try:
            stamp = stamp.tz_localize(tz, nonexistent="raise", ambiguous="raise")
        except (ValueError, OverflowError):  # pandas' NonExistentTimeError / AmbiguousTimeError: a clock change there
            raise FieldError(field, f"{value.isoformat()} does not exist or is ambiguous in {tz} "
                                    "(a daylight-saving change); give an offset, e.g. +01:00") from None
    return stamp.tz_convert("UTC")


def request_start(city: City, start: datetime | str | None, resolution_minutes: int,
                  now: datetime | None = None) -> pd.Timestamp:
    """The request's start in UTC (naive = city local time), checked to sit on a block boundary;
    ``"now"`` is the next block boundary (intraday)."""
    if start is None:
        return default_start(city, now)
    if start == "now":
        return pd.Timestamp(now or datetime.now(timezone.utc)).tz_convert("UTC").ceil(f"{resolution_minutes}min")
    stamp = _local_or_utc(city, start, "start")
    if stamp.value % (resolution_minutes * 60 * 10**9):
        raise FieldError("start", f"{start.isoformat()} is not on a {resolution_minutes}-minute block boundary")
    return stamp


def request_as_of(city: City, as_of: datetime | None, now: datetime | None = None) -> pd.Timestamp | None:
    """The issue time a request asked for, in UTC (None when it did not: data up to now is used)."""
    if as_of is None:
        return None
    stamp = _local_or_utc(city, as_of, "as_of")
    current = pd.Timestamp(now or datetime.now(timezone.utc)).tz_convert("UTC")
    if stamp > current:
        raise FieldError("as_of", f"{as_of.isoformat()} is in the future: a forecast can only be issued with data known by now")
    return stamp


@dataclass
class _Planned:
    """A validated request: what to compute, and under which cache key."""

    city: City
    version: ModelVersion
    quantiles: list[float]
    key: str
    job: ForecastJob


class ForecastService:
    def __init__(self, settings: PlatformSettings, engine: ForecastEngine, directory: ModelDirectory,
                 catalogue: Catalogue, cache: ResponseCache, metrics: ServiceMetrics, *, reload_poll_s: float,
                 recorder: ForecastRecorder | None = None) -> None:
        self.settings, self.engine, self.directory = settings, engine, directory
        self.catalogue, self.cache, self.metrics = catalogue, cache, metrics
        self.recorder = recorder  # keeps every computed forecast (off the request path)
        self._poll = reload_poll_s
        self._watcher: asyncio.Task | None = None

    # -- forecasts ------------------------------------------------------------------------
    async def forecast(self, request: ForecastRequest, *, use_cache: bool = True, charge: Charge = _free) -> dict[str, Any]:
        """The response body as a dict."""
        return json.loads(await self.forecast_json(request, use_cache=use_cache, charge=charge))

    async def forecast_json(self, request: ForecastRequest, *, use_cache: bool = True, charge: Charge = _free) -> bytes:
        """The response body as JSON bytes: a cache hit is returned as stored, never re-parsed.

        ``charge`` is called with the request's cost once it is known and before any work starts."""
        planned = await self._plan(request)
        if use_cache:
            with span("cache"):
                hit = await self.cache.get_raw(planned.key)
            if hit is not None:
                await charge(CACHE_HIT_COST)
                return _as_hit(hit)
        await charge(forecast_cost(planned.job))
        return await self._finish(planned, await self.engine.run(planned.job), use_cache)

    async def forecast_many(self, requests: list[ForecastRequest], *, use_cache: bool = True,
                            charge: Charge = _free) -> list[dict[str, Any] | PlatformError]:
        """Many forecasts as dicts (or the item's error)."""
        return [o if isinstance(o, PlatformError) else json.loads(o)
                for o in await self.forecast_many_json(requests, use_cache=use_cache, charge=charge)]

    async def forecast_many_json(self, requests: list[ForecastRequest], *, use_cache: bool = True,
                                 charge: Charge = _free) -> list[bytes | PlatformError]:
        """Many forecasts: each item validated and cache-checked alone, the misses computed in one
        batched pass through the engine (one call per deployment, not one per item); each
        answer as its JSON bytes, so the route embeds them without parsing them again.

        The whole batch is charged at once before the engine runs: each hit ``CACHE_HIT_COST``,
        each miss ``forecast_cost``; items refused at validation cost nothing (the batch at least 1)."""
        results: list[bytes | PlatformError | None] = [None] * len(requests)
        pending: list[tuple[int, _Planned]] = []
        for index, request in enumerate(requests):
            try:
                planned = await self._plan(request)
            except PlatformError as error:
                results[index] = error
                continue
            hit = await self.cache.get_raw(planned.key) if use_cache else None
            if hit is not None:
                results[index] = _as_hit(hit)
            else:
                pending.append((index, planned))
        hits = sum(1 for r in results if r is not None and not isinstance(r, PlatformError))
        await charge(max(1.0, hits * CACHE_HIT_COST + sum(forecast_cost(p.job) for _, p in pending)))
        if pending:
            computed = await self.engine.run_many([planned.job for _, planned in pending])
            for (index, planned), outcome in zip(pending, computed):
                results[index] = outcome if isinstance(outcome, PlatformError) else \
                    await self._finish(planned, outcome, use_cache)
        return [r for r in results if r is not None]

    async def _plan(self, request: ForecastRequest) -> "_Planned":
        city = self.catalogue.get(request.city)
        version = self.directory.cached(city.code, request.model_version) or await asyncio.to_thread(
            self.directory.resolve, city.code, request.model_version)
        steps = horizon_steps(request.horizon, version.resolution_minutes)
        as_of = request_as_of(city, request.as_of)
        # Without a start: the day after the issue time (the city's tomorrow when issued now).
        start = request_start(city, request.start, version.resolution_minutes, now=as_of)
        quantiles = request.quantiles or list(ALLOWED_QUANTILES)
        weather = [p.model_dump(mode="json", exclude_none=True) for p in request.weather] if request.weather else None
        self._check_weather(weather, start, steps, version.resolution_minutes)
        key = cache_key(self.cache.prefix, city=city.code, start=start.isoformat(), horizon=steps, quantiles=quantiles,
                        model_version=version.version, weather=weather, as_of=None if as_of is None else as_of.isoformat())
        job = ForecastJob(version.version, city.code, start, steps, version.resolution_minutes, weather, as_of)
        return _Planned(city, version, quantiles, key, job)

    async def _finish(self, planned: "_Planned", result: EnsembleForecast, use_cache: bool) -> bytes:
        raw = orjson.dumps(self._response(planned.city, planned.version, result, planned.quantiles))
        if self.recorder is not None:
            self.recorder.record(planned.city, result)
        if result.degraded:
            self.metrics.degraded.inc()
            for member in result.members:
                if not member.used and not member.skipped:
                    self.metrics.member_failures.labels(member.name, "timeout" if member.reason == "timed out" else "error").inc()
        elif use_cache:
            await self.cache.set_raw(planned.key, raw)  # a degraded answer is never cached
        return raw

    @staticmethod
    def _check_weather(weather: list[dict[str, Any]] | None, start: pd.Timestamp, steps: int, resolution: int) -> None:
        if not weather:
            return
        end = start + pd.Timedelta(minutes=steps * resolution)
        earliest = start - pd.Timedelta(days=30)
        for index, point in enumerate(weather):
            ts = pd.Timestamp(point["ts"])
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
            if not earliest <= ts < end:
                raise FieldError(f"weather.{index}.ts", f"{point['ts']} is outside the forecast window (up to {end.isoformat()})")

    def _response(self, city: City, version: ModelVersion, result: EnsembleForecast, quantiles: list[float]) -> dict[str, Any]:
        columns = [(QUANTILE_FIELDS[q], ALLOWED_QUANTILES.index(q)) for q in quantiles]
        stamps = local_isoformat(result.timestamps, city.tz)
        rows = result.quantiles.tolist()
        points = [{"ts": ts, **{name: row[i] for name, i in columns}} for ts, row in zip(stamps, rows)]
        now = pd.Timestamp.now(tz="UTC")
        as_of = result.as_of if result.as_of is not None and result.as_of < now else now
        return {
            "city": city.code,
            "issued_at": now.isoformat(),
            "as_of": as_of.tz_convert(city.tz).isoformat(),
            "data_until": None if result.data_until is None else result.data_until.tz_convert(city.tz).isoformat(),
            "resolution_minutes": version.resolution_minutes,
            "model_version": version.version,
            "degraded": result.degraded,
            "cached": False,
            "points": points,
            "members": [asdict(m) for m in result.members],
            "notes": list(result.notes),
        }

    # -- hot reload -----------------------------------------------------------------------
    async def check_registry(self) -> bool:
        """One poll: on a new production token warm the new versions, then switch and purge."""
        token = await asyncio.to_thread(self.directory.read_token)
        if self.directory.token is None:
            self.directory.apply_token(token)
            return False
        if token == self.directory.token:
            return False
        for version in await asyncio.to_thread(self.directory.production_versions):
            try:
                await asyncio.wait_for(self.engine.warm(version), timeout=60)
            except Exception as error:  # warming is an optimisation; requests load on demand
                log.warning("could not warm model version %s: %s", version, error)
        changed = self.directory.apply_token(token)
        if changed:
            dropped = await self.cache.purge()
            self.metrics.reloads.inc()
            log.info("production models changed: now serving the new versions; %d cached forecasts dropped", dropped)
        return changed

    async def _watch(self) -> None:
        while True:
            try:
                await self.check_registry()
            except Exception as error:  # a registry hiccup must not stop the watcher
                log.warning("registry watch failed: %s", error)
            await asyncio.sleep(self._poll)

    def start(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.flush)

    async def ready(self) -> tuple[bool, str]:
        try:
            await asyncio.to_thread(self.directory.read_token)
            models = await asyncio.to_thread(self.directory.list)
        except Exception as error:  # probes need no login: the reason goes to the log, not to the caller
            log.warning("readiness: registry unreachable: %s", error)
            return False, "registry unreachable"
        if not models:
            return False, "no model version registered; run `efp train`"
        return True, f"{len(models)} model version(s) registered"

