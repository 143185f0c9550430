"""A circuit breaker in front of Redis, shared by the response cache and the rate limiter.

Without it every Redis call of a request waited out the socket timeout while Redis was
down (0.25 s, up to three calls per request). After ``failures`` consecutive failures the
breaker opens: calls fail at once with ``CircuitOpenError``, without touching a socket.
After ``cooldown_s`` it lets one trial call through (half-open); a success closes it, a
failure opens it for another cool-down. One breaker per Redis client: a replica has one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from redis.exceptions import RedisError

from data.settings import ServeSettings

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half_open"]


class CircuitOpenError(RedisError):
    """Redis was not called: the breaker is open (a ``RedisError``, so callers' fallbacks catch it)."""


class CircuitBreaker:
    def __init__(self, settings: ServeSettings | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``settings.redis_breaker_failures`` and ``redis_breaker_cooldown_s`` (defaults without settings)."""
        settings = settings or ServeSettings()
        self._threshold, self._cooldown = settings.redis_breaker_failures, settings.redis_breaker_cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        #: Calls that reached Redis (a socket was used): what a test counts instead of timing.
        self.attempts = 0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self._cooldown else "open"

    def _admit(self) -> bool:
        with self._lock:
            state = self._state()
            if state == "closed":
                self.attempts += 1
                return True
            if state == "half_open" and not self._trial_in_flight:
                self._trial_in_flight = True  # exactly one trial while half-open
                self.attempts += 1
                return True
            return False

    def _succeeded(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial_in_flight = 0, None, False

    def _failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_in_flight or self._failures >= self._threshold:
                self._opened_at = self._clock()
            self._trial_in_flight = False

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation through the breaker; ``RedisError``/``OSError`` count as failures."""
        if not self._admit():
            raise CircuitOpenError("Redis circuit open: not called")
        try:
            result = await operation()
        except (RedisError, OSError):
            self._failed()
            raise
        except BaseException:  # cancelled or a bug: says nothing about Redis, but frees the trial
            with self._lock:
                self._trial_in_flight = False
            raise
        self._succeeded()
        return result
