"""Response cache for forecasts: Redis when configured, else an in-process TTL map.

The key holds the model version, so a promotion can never serve an old model's answer;
the hot-reload watcher also purges every cached forecast explicitly. Redis failures are
counted and answered uncached: the cache may make the service faster, never less available.

Every Redis call goes through the replica's circuit breaker (``serving.redis_breaker``), so
while Redis is down a lookup fails at once instead of waiting out a socket timeout.

With Redis, each replica also keeps what it read or wrote for ``near_cache_s`` (a near
cache): a dashboard polling one forecast is answered without a Redis round trip, which was
a fifth of a cache hit's time inside the ingress (issue 10). Nothing but expiry and the hot
reload's purge removes an entry, so a near copy can outlive its Redis entry by at most
``near_cache_s``, and never across a model promotion on its own replica.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from serving.metrics import ServiceMetrics
from serving.redis_breaker import CircuitBreaker


def cache_key(prefix: str, *, city: str, start: str, horizon: int, quantiles: list[float], model_version: str,
              weather: Any, as_of: str | None = None) -> str:
    """``<prefix>forecast:<version>:<sha256 of city, start, horizon, quantiles, weather[, as_of]>``; a request
    without ``as_of`` (issued now) shares its entry with others issued within the cache's lifetime."""
    weather_hash = hashlib.sha256(json.dumps(weather, sort_keys=True, default=str).encode()).hexdigest()
    parts: list[Any] = [city, start, horizon, quantiles, weather_hash]
    if as_of is not None:
        parts.append(as_of)
    body = json.dumps(parts)
    return f"{prefix}forecast:{model_version}:{hashlib.sha256(body.encode()).hexdigest()[:32]}"


class LocalTTLCache:
    """Bounded LRU with per-entry expiry: the cache of a service without Redis, and a replica's near cache."""

    def __init__(self, max_entries: int = 4096, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()
        self._clock = clock

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry[0] < self._clock():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return entry[1]

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        with self._lock:
            self._data[key] = (self._clock() + ttl_s, value)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def purge(self, prefix: str) -> int:
        with self._lock:
            doomed = [k for k in self._data if k.startswith(prefix)]
            for key in doomed:
                del self._data[key]
            return len(doomed)


class ResponseCache:
    def __init__(self, client: aioredis.Redis | None, prefix: str, ttl_s: int, metrics: ServiceMetrics, *,
                 breaker: CircuitBreaker | None = None, near_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``near_s``: how long this replica keeps Redis entries it saw (0: none; no Redis: every entry, ``ttl_s``)."""
        self._client = client
        self.breaker = breaker or CircuitBreaker()
        self.prefix = prefix
        self._ttl = ttl_s
        self._metrics = metrics
        self._local = LocalTTLCache(clock=clock) if client is None else None
        self._near_s = min(near_s, ttl_s)
        self._near = LocalTTLCache(clock=clock) if client is not None and self._near_s > 0 else None

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    @property
    def shared(self) -> bool:
        """Kept in Redis, so warm for every replica (else in this process only)."""
        return self._client is not None

    async def get_raw(self, key: str) -> bytes | None:
        """The stored JSON body, or None on a miss, when disabled, or when Redis fails (counted)."""
        if not self.enabled:
            return None
        raw: bytes | None = None
        if self._local is not None:
            raw = self._local.get(key)
        else:
            raw = self._near.get(key) if self._near is not None else None
            if raw is None:
                try:
                    raw = await self.breaker.call(lambda: self._client.get(key))  # type: ignore[union-attr]
                except (RedisError, OSError):
                    self._metrics.backend_errors.labels("cache").inc()
                    self._metrics.cache.labels("error").inc()
                    return None
                if raw is not None and self._near is not None:
                    self._near.set(key, raw, self._near_s)
        self._metrics.cache.labels("hit" if raw is not None else "miss").inc()
        return raw

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = await self.get_raw(key)
        return json.loads(raw) if raw is not None else None

    async def set_raw(self, key: str, raw: bytes) -> None:
        if not self.enabled:
            return
        if self._local is not None:
            self._local.set(key, raw, self._ttl)
            return
        try:
            await self.breaker.call(lambda: self._client.set(key, raw, ex=self._ttl))  # type: ignore[union-attr]
        except (RedisError, OSError):
            self._metrics.backend_errors.labels("cache").inc()
            return  # kept nowhere, as without a cache: a near copy would hide the outage from the breaker
        if self._near is not None:
            self._near.set(key, raw, self._near_s)

    async def set(self, key: str, value: dict[str, Any]) -> None:
        await self.set_raw(key, json.dumps(value, default=str).encode())

    async def purge(self) -> int:
        """Drop every cached forecast (all versions); returns how many were dropped."""
        pattern = f"{self.prefix}forecast:"
        if self._local is not None:
            return self._local.purge(pattern)
        if self._near is not None:
            self._near.purge(pattern)
        client = self._client
        assert client is not None

        async def drop_all() -> int:
            dropped = 0
            async for key in client.scan_iter(match=pattern + "*", count=500):
                dropped += await client.delete(key)
            return dropped

        try:
            return await self.breaker.call(drop_all)
        except (RedisError, OSError):
            self._metrics.backend_errors.labels("cache").inc()
            return 0


def redis_client(url: str | None) -> aioredis.Redis | None:
    """An asyncio Redis client with short timeouts, so an outage costs milliseconds, not seconds."""
    if not url:
        return None
    return aioredis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25, health_check_interval=0)
