"""What every route of one replica shares: settings, the forecast service, credentials,
rate limits, keys and metrics.

Built once by ``serving.wiring`` (so the Serve ingress and the in-process app are wired the
same way) and hung on ``app.state``; routes reach it through ``deps.State``, never a global.
"""

from __future__ import annotations

from dataclasses import dataclass

from data.settings import PlatformSettings
from serving.auth import Authenticator
from serving.auth.keys import KeyStore
from serving.auth.ratelimit import RateLimiter
from serving.metrics import ServiceMetrics
from serving.service import ForecastService


@dataclass
class ServiceState:
    settings: PlatformSettings
    service: ForecastService
    auth: Authenticator
    limiter: RateLimiter
    keys: KeyStore | None  # None when auth is off: there is no key to list or check
    metrics: ServiceMetrics
