"""Metrics of every replica in one scrape: two Ray actors, each with the service metrics a Serve
ingress replica has (``ServiceMetrics(ray_export=True)``), count requests; one scrape of the
node's Ray metrics export port, relabelled as cluster/monitoring/podmonitor.yaml does, shows
both replicas' counts under the names the Prometheus rules query."""

from __future__ import annotations

import time

import pytest

from serving_world import samples, scrape_ray_nodes

ROUTE = "/v1/replica-metrics-test"


def _series(text: str) -> tuple[dict[str, float], float]:
    requests = {labels["WorkerId"]: value for labels, value in samples(text, "efp_http_requests_total")
                if labels.get("route") == ROUTE}
    observed = sum(value for labels, value in samples(text, "efp_http_request_seconds_count") if labels.get("route") == ROUTE)
    return requests, observed


@pytest.mark.slow
def test_two_replicas_counts_are_both_visible_from_one_scrape(ray_cluster) -> None:
    import ray

    from serving.metrics import ServiceMetrics

    class Replica:
        def __init__(self) -> None:
            self.metrics = ServiceMetrics(ray_export=True)

        def serve(self, requests: int) -> str:
            for _ in range(requests):
                self.metrics.requests.labels(ROUTE, "200").inc()
                self.metrics.latency.labels(ROUTE).observe(0.02)
            return ray.get_runtime_context().get_worker_id()

    actor = ray.remote(num_cpus=0)(Replica)
    replicas = [actor.remote(), actor.remote()]
    workers = ray.get([replicas[0].serve.remote(3), replicas[1].serve.remote(4)])
    assert len(set(workers)) == 2
    deadline = time.monotonic() + 60  # the agent collects every metrics_report_interval_ms
    requests, observed = _series(scrape_ray_nodes())
    while (requests, observed) != ({workers[0]: 3.0, workers[1]: 4.0}, 7.0) and time.monotonic() < deadline:
        time.sleep(0.5)
        requests, observed = _series(scrape_ray_nodes())
    assert requests == {workers[0]: 3.0, workers[1]: 4.0} and observed == 7.0
    for replica in replicas:
        ray.kill(replica)
