"""Prometheus metrics of one service instance: served at its /metrics, and exported through Ray.

Each service instance owns its prometheus-client registry, so two apps in one process (tests)
never clash, and ``GET /metrics`` of the in-process app (``efp serve`` without Ray, the tests)
shows that process's counts.

A Serve deployment has many ingress replicas, on several nodes: a scrape of ``/metrics``
reaches one of them and shows only its counts. So inside Ray (``ray_export=True``, what the
Serve ingress uses) every update is also recorded through ``ray.util.metrics``: Ray's metrics
agent on each node collects the series of every worker on it (one series per replica, tagged
``WorkerId``) and serves them on the node's metrics export port (8080 in KubeRay), where
Prometheus scrapes every Ray pod (cluster/monitoring/podmonitor.yaml). Ray prefixes the names
with ``ray_``; the PodMonitor strips it, so rules and dashboards use the names below either way.
prometheus-client's multiprocess mode is no answer here: it shares files between processes of
one host, and Serve replicas are actors on different nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class _Child:
    """One labelled series: updates go to the local registry and, when exported, to Ray."""

    def __init__(self, local: Any, remote: Any | None, tags: dict[str, str]) -> None:
        self._local, self._remote, self._tags = local, remote, tags

    def inc(self, amount: float = 1.0) -> None:
        self._local.inc(amount)
        if self._remote is not None:
            self._remote.inc(amount, tags=self._tags)

    def observe(self, value: float) -> None:
        self._local.observe(value)
        if self._remote is not None:
            self._remote.observe(value, tags=self._tags)


class _Metric:
    """A counter or histogram with prometheus-client's ``labels(...)``/``inc``/``observe`` calls."""

    def __init__(self, kind: str, name: str, documentation: str, labels: Sequence[str], registry: CollectorRegistry,
                 *, ray_export: bool) -> None:
        self._labels = tuple(labels)
        if kind == "counter":
            self._local: Any = Counter(name, documentation, self._labels, registry=registry)
        else:
            self._local = Histogram(name, documentation, self._labels, registry=registry, buckets=LATENCY_BUCKETS)
        self._remote: Any | None = _ray_metric(kind, name, documentation, self._labels) if ray_export else None

    def labels(self, *values: str) -> _Child:
        return _Child(self._local.labels(*values), self._remote, dict(zip(self._labels, values)))

    def inc(self, amount: float = 1.0) -> None:
        _Child(self._local, self._remote, {}).inc(amount)

    def observe(self, value: float) -> None:
        _Child(self._local, self._remote, {}).observe(value)


def _ray_metric(kind: str, name: str, documentation: str, labels: tuple[str, ...]) -> Any:
    from ray.util import metrics

    if kind == "counter":
        return metrics.Counter(name, documentation, tag_keys=labels)
    return metrics.Histogram(name, documentation, boundaries=list(LATENCY_BUCKETS), tag_keys=labels)


class ServiceMetrics:
    def __init__(self, *, ray_export: bool = False) -> None:
        """``ray_export``: also record through Ray's metrics agent (only inside a Ray worker: a Serve replica)."""
        self.registry = CollectorRegistry()
        self.ray_export = ray_export

        def counter(name: str, documentation: str, labels: Sequence[str] = ()) -> _Metric:
            return _Metric("counter", name, documentation, labels, self.registry, ray_export=ray_export)

        self.requests = counter("efp_http_requests", "HTTP requests by route and status", ["route", "status"])
        self.latency = _Metric("histogram", "efp_http_request_seconds", "HTTP request latency", ["route"], self.registry,
                               ray_export=ray_export)
        self.cache = counter("efp_forecast_cache", "Response cache lookups by result", ["result"])
        self.backend_errors = counter("efp_backend_errors", "Redis failures survived (answered without it)", ["component"])
        self.member_failures = counter("efp_member_failures", "Members left out of a forecast", ["member", "reason"])
        self.degraded = counter("efp_degraded_forecasts", "Forecasts answered without every member")
        self.reloads = counter("efp_model_reloads", "Production-token changes seen (hot reloads)")
        self.rate_limited = counter("efp_rate_limited", "Requests refused with 429")
        self.forecasts_recorded = counter(
            "efp_forecasts_recorded", "Computed forecasts handed to the forecast store, by result (stored, dropped, failed)",
            ["result"])

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
