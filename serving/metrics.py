"""Prometheus metrics of one ingress replica, served at /metrics.

Each service instance owns its registry, so two apps in one process (tests) never clash.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("efp_http_requests", "HTTP requests by route and status", ["route", "status"], registry=self.registry)
        self.latency = Histogram(
            "efp_http_request_seconds", "HTTP request latency", ["route"], registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.cache = Counter("efp_forecast_cache", "Response cache lookups by result", ["result"], registry=self.registry)
        self.backend_errors = Counter(
            "efp_backend_errors", "Redis failures survived (answered without it)", ["component"], registry=self.registry
        )
        self.member_failures = Counter(
            "efp_member_failures", "Members left out of a forecast", ["member", "reason"], registry=self.registry
        )
        self.degraded = Counter("efp_degraded_forecasts", "Forecasts answered without every member", registry=self.registry)
        self.reloads = Counter("efp_model_reloads", "Production-token changes seen (hot reloads)", registry=self.registry)
        self.rate_limited = Counter("efp_rate_limited", "Requests refused with 429", registry=self.registry)
        self.forecasts_recorded = Counter(
            "efp_forecasts_recorded", "Computed forecasts handed to the forecast store, by result (stored, dropped, failed)",
            ["result"], registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
