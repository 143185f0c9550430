"""Per-credential token bucket: Redis (one Lua script, atomic across replicas) or in-process.

A bucket holds ``limit`` tokens and refills at ``limit/60`` per second; a request takes
what it costs (``cost``: one for most requests, the work of a forecast, see
``serving.service.forecast_cost``). A request costing more than the whole bucket could
never be served, so it is refused as the caller's error (``OverCapacityError``, 422)
rather than answered 429 forever.

Redis calls go through the replica's circuit breaker (``serving.redis_breaker``). While
Redis is unavailable the limiter falls back to an in-process bucket per replica whose
rate is the configured rate divided by ``replicas`` (the ingress replica count), so the
cluster-wide limit still holds, and counts it; a Redis outage never turns into failed
requests.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from data.errors import PlatformError
from serving.metrics import ServiceMetrics
from serving.redis_breaker import CircuitBreaker

# KEYS[1] bucket; ARGV: capacity, refill per ms, now ms, cost. Returns {allowed, retry_after_ms}.
TOKEN_BUCKET_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((cost - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return {allowed, retry}
"""  # nosec B105: a Lua script (the name says TOKEN), not a password


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0


class RateLimitedError(Exception):
    """The credential has spent its budget for now (HTTP 429); a token is back in ``retry_after_s``."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"rate limit exceeded; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class OverCapacityError(PlatformError):
    """A request costs more tokens than the caller's whole bucket holds: no wait would let it through (422)."""

    def __init__(self, cost: float, per_minute: int) -> None:
        super().__init__(
            f"this request costs {cost:g} rate-limit tokens (one per forecast-day computed, one per cached answer), "
            f"more than the {per_minute} per minute this credential may spend; split it into smaller requests")
        self.cost, self.per_minute = cost, per_minute


class LocalBuckets:
    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, per_minute: float, cost: float = 1.0) -> Decision:
        """A request costing more than this (possibly reduced) bucket holds waits for a full one and empties it."""
        rate = per_minute / 60.0
        cost = min(cost, per_minute)
        now = time.monotonic()
        with self._lock:
            tokens, ts = self._state.get(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - ts) * rate)
            if tokens >= cost:
                self._state[key] = (tokens - cost, now)
                return Decision(True)
            self._state[key] = (tokens, now)
            return Decision(False, max(1, math.ceil((cost - tokens) / rate)))


class RateLimiter:
    def __init__(self, client: aioredis.Redis | None, prefix: str, metrics: ServiceMetrics, *,
                 breaker: CircuitBreaker | None = None, replicas: int = 1) -> None:
        self._client = client
        self._prefix = f"{prefix}ratelimit:"
        self._metrics = metrics
        self._local = LocalBuckets()
        self._script = client.register_script(TOKEN_BUCKET_LUA) if client is not None else None
        self.breaker = breaker or CircuitBreaker()
        self._replicas = replicas

    async def take(self, credential: str, per_minute: int, cost: float = 1.0) -> Decision:
        """Take ``cost`` tokens of ``credential``'s bucket (OverCapacityError when the bucket can never hold them)."""
        if cost > per_minute:
            raise OverCapacityError(cost, per_minute)
        script = self._script
        if script is not None:
            try:
                allowed, retry_ms = await self.breaker.call(lambda: script(
                    keys=[self._prefix + credential], args=[per_minute, per_minute / 60_000.0, int(time.time() * 1000), cost]
                ))
                return Decision(bool(allowed), max(1, math.ceil(int(retry_ms) / 1000)) if not allowed else 0)
            except (RedisError, OSError):
                self._metrics.backend_errors.labels("ratelimit").inc()
            # Redis unavailable: this replica's share of the cluster-wide rate.
            return self._local.take(credential, per_minute / self._replicas, cost)
        return self._local.take(credential, per_minute, cost)
