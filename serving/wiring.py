"""Assemble one service state from settings: Redis (or in-process) cache and rate limiter,
key store, registry view, catalogue and metrics. The Serve ingress and the in-process app
use the same function, so they cannot be wired differently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from data.catalogue import load_catalogue
from data.log_masking import install_log_masking
from data.settings import PlatformSettings
from data.stores import open_forecasts, open_metadata
from data.stores.forecasts import Source
from serving.api import ServiceState
from serving.alert_metrics import AlertsCollector
from serving.auth import Authenticator
from serving.cache import ResponseCache, redis_client
from serving.auth.keys import open_key_store
from serving.auth.ratelimit import RateLimiter
from serving.config import DeploymentsConfig, load_deployments_config
from serving.engines import ForecastEngine
from serving.engines.local import LocalEngine
from serving.metrics import ServiceMetrics
from serving.redis_breaker import CircuitBreaker
from serving.model_directory import BundleCache, ModelDirectory
from serving.recorder import ForecastRecorder, ForecastWriter, PendingForecast
from serving.service import ForecastService


def build_state(settings: PlatformSettings, engine_factory: Callable[[ModelDirectory], ForecastEngine], *,
                reload_poll_s: float, record_source: Source = "served", ray_metrics: bool = False,
                record_write: Callable[[Sequence[PendingForecast]], int] | None = None) -> ServiceState:
    """``ray_metrics``: export the metrics through Ray's metrics agent too (a Serve replica; serving/metrics.py).
    ``record_write``: where computed forecasts are written (default: a ``ForecastWriter`` in this process)."""
    install_log_masking(settings)
    metrics = ServiceMetrics(ray_export=ray_metrics)
    write = record_write or ForecastWriter(lambda: open_forecasts(settings), record_source).write
    recorder = ForecastRecorder(write, metrics)
    metrics.registry.register(AlertsCollector(lambda: open_metadata(settings).alerts(limit=100_000, open_only=True)))
    client = redis_client(settings.redis_dsn)
    breaker = CircuitBreaker(settings.serve)  # one per client: cache and limiter share what they learn
    directory = ModelDirectory(settings)
    service = ForecastService(
        settings, engine_factory(directory), directory, load_catalogue(settings),
        ResponseCache(client, settings.redis_prefix, settings.serve.cache_ttl_s, metrics, breaker=breaker,
                      near_s=settings.serve.near_cache_s), metrics,
        reload_poll_s=reload_poll_s, recorder=recorder,
    )
    keys = open_key_store(settings) if settings.auth_enabled else None
    limiter = RateLimiter(client, settings.redis_prefix, metrics, breaker=breaker, replicas=settings.serve.ingress_replicas)
    return ServiceState(settings, service, Authenticator(settings, keys), limiter, keys, metrics)


def local_state(settings: PlatformSettings, deployments: DeploymentsConfig | None = None, *,
                record_source: Source = "served") -> ServiceState:
    """The service over the in-process engine (no Ray): tests of the HTTP layer, the benchmark floor.

    Poll period and caches come from the deployments file, as in the Serve graph."""
    deployments = deployments or load_deployments_config()
    return build_state(
        settings,
        lambda directory: LocalEngine(settings, BundleCache(settings, directory), deployments),
        reload_poll_s=deployments.reload_poll_s, record_source=record_source,
    )
