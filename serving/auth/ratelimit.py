"""Per-credential token bucket: Redis (one Lua script, atomic across replicas) or in-process.

A bucket holds ``limit`` tokens and refills at ``limit/60`` per second; a request takes
one. When Redis fails the limiter falls back to the in-process bucket and counts it,
so a Redis outage never turns into refused or failed requests.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from serving.metrics import ServiceMetrics

# KEYS[1] bucket; ARGV: capacity, refill per ms, now ms. Returns {allowed, retry_after_ms}.
TOKEN_BUCKET_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) / rate)
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


class LocalBuckets:
    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, per_minute: int) -> Decision:
        rate = per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, ts = self._state.get(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - ts) * rate)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return Decision(True)
            self._state[key] = (tokens, now)
            return Decision(False, max(1, math.ceil((1 - tokens) / rate)))


class RateLimiter:
    def __init__(self, client: aioredis.Redis | None, prefix: str, metrics: ServiceMetrics) -> None:
        self._client = client
        self._prefix = f"{prefix}ratelimit:"
        self._metrics = metrics
        self._local = LocalBuckets()
        self._script = client.register_script(TOKEN_BUCKET_LUA) if client is not None else None

    async def take(self, credential: str, per_minute: int) -> Decision:
        if self._script is not None:
            try:
                allowed, retry_ms = await self._script(
                    keys=[self._prefix + credential], args=[per_minute, per_minute / 60_000.0, int(time.time() * 1000)]
                )
                return Decision(bool(allowed), max(1, math.ceil(int(retry_ms) / 1000)) if not allowed else 0)
            except (RedisError, OSError):
                self._metrics.backend_errors.labels("ratelimit").inc()
        return self._local.take(credential, per_minute)
