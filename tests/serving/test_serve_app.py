"""The forecast service on Ray Serve, started once for this module with the tiny real
bundle, real Redis (cache, rate limits) and real PostgreSQL (API keys, registry index,
history): auth, rate limits, cache, batch, hot reload, a member replica killed mid-load, and live
metrics (the replica's /metrics and Ray's metrics export, what Prometheus scrapes).
"""

from __future__ import annotations

import threading
import time

import httpx
import jwt
import pytest
import ray
import redis

from serving.auth.keys import open_key_store
from training.registry import open_registry

from serving_world import World, samples, scrape_ray_nodes

pytestmark = pytest.mark.slow


def _post(world: World, role: str, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{world.url}/v1/forecast", json=body, headers={**world.headers(role), **headers}, timeout=30)


def test_forecast_through_the_graph_then_from_redis(served: World) -> None:
    body = {"city": "DEL", "start": "2024-04-08T00:00:00", "horizon": "1d"}
    first = _post(served, "forecaster", body)
    assert first.status_code == 200, first.text
    second = _post(served, "forecaster", body).json()
    data = first.json()
    assert data["cached"] is False and second["cached"] is True and second["points"] == data["points"]
    assert len(data["points"]) == 96 and all(p["p10"] <= p["p50"] <= p["p90"] for p in data["points"])
    assert [m["name"] for m in data["members"]] == ["xgboost", "lstm", "transformer"] and not data["degraded"]
    client = redis.Redis.from_url(served.settings.redis_dsn)
    assert any(client.scan_iter(f"{served.settings.redis_prefix}forecast:{data['model_version']}:*"))


def test_credentials_and_roles(served: World) -> None:
    url = served.url
    secret = served.settings.jwt_secret.get_secret_value()
    token = lambda role, key=secret: jwt.encode({"sub": "ops", "role": role, "iat": int(time.time()), "exp": int(time.time()) + 600,  # noqa: E731
                                                 "jti": f"ops-{role}"}, key, algorithm="HS256")
    assert httpx.get(f"{url}/v1/cities").status_code == 401
    assert httpx.get(f"{url}/v1/cities", headers={"X-API-Key": "efp_0000_bad"}).status_code == 401
    assert httpx.get(f"{url}/v1/cities", headers={"Authorization": f"Bearer {token('viewer', 'a-wrong-secret-of-thirty-two-bytes')}"}).status_code == 401
    assert httpx.get(f"{url}/v1/cities", headers=served.headers("viewer")).status_code == 200
    assert _post(served, "viewer", {"city": "DEL"}).status_code == 403
    assert httpx.get(f"{url}/v1/keys", headers=served.headers("forecaster")).status_code == 403
    keys = httpx.get(f"{url}/v1/keys", headers=served.headers("admin"))
    assert keys.status_code == 200 and {"test-viewer", "test-admin"} <= {k["name"] for k in keys.json()}
    assert all("hash" not in str(k) for k in keys.json())
    bearer = {"Authorization": f"Bearer {token('forecaster')}"}
    assert httpx.post(f"{url}/v1/forecast", json={"city": "MUM", "start": "2024-04-08T00:00:00"}, headers=bearer, timeout=30).status_code == 200
    assert httpx.get(f"{url}/v1/keys", headers=bearer).status_code == 403
    store = open_key_store(served.settings)  # PostgreSQL (0004_api_keys)
    record, key = store.create("soon-revoked", "viewer")
    assert httpx.get(f"{url}/v1/models", headers={"X-API-Key": key}).status_code == 200
    store.revoke(record.id)
    # Key lookups are cached per replica for serve.key_cache_s: the revocation holds within that bound.
    deadline = time.monotonic() + served.settings.serve.key_cache_s + 5
    status = 200
    while status == 200 and time.monotonic() < deadline:
        status = httpx.get(f"{url}/v1/models", headers={"X-API-Key": key}).status_code
        time.sleep(0.5)
    assert status == 401


def test_rate_limit_answers_429_with_retry_after(served: World) -> None:
    statuses = [httpx.get(f"{served.url}/v1/cities", headers=served.headers("limited")) for _ in range(4)]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
    assert statuses[3].status_code == 429 and int(statuses[3].headers["Retry-After"]) >= 1


def test_batch_of_cities(served: World) -> None:
    items = [{"city": c, "start": "2024-04-09T00:00:00"} for c in ("DEL", "MUM", "ZZZ")]
    items.append({"city": "DEL", "start": "2024-04-09T00:00:00", "horizon": 500})  # beyond the model's 96 steps
    response = httpx.post(f"{served.url}/v1/forecast/batch", headers={**served.headers("forecaster"), "Cache-Control": "no-cache"},
                          timeout=60, json={"requests": items})
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 200, 404, 422] and "horizon" in results[3]["error"]
    single = _post(served, "forecaster", items[1], **{"Cache-Control": "no-cache"}).json()
    assert [p["p50"] for p in results[1]["forecast"]["points"]] == pytest.approx([p["p50"] for p in single["points"]])


class _Loop(threading.Thread):
    """Sends forecasts back to back (cache skipped) and records every status and version."""

    def __init__(self, world: World) -> None:
        super().__init__(daemon=True)
        self.world, self.stop, self.seen = world, threading.Event(), []

    def run(self) -> None:
        day = 0
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                day = day % 10 + 1
                response = client.post(f"{self.world.url}/v1/forecast", headers={**self.world.headers("forecaster"), "Cache-Control": "no-cache"},
                                       json={"city": "DEL", "start": f"2024-04-{day:02d}T00:00:00"})
                body = response.json() if response.status_code == 200 else {}
                self.seen.append((response.status_code, body.get("model_version"), body.get("degraded"), body.get("members")))


def test_promotion_during_a_request_loop_drops_nothing(served: World) -> None:
    loop = _Loop(served)
    loop.start()
    time.sleep(1)
    open_registry(served.settings).promote(served.versions[1], force=True)  # as `efp models promote` does, from outside
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and [v for _, v, _, _ in loop.seen[-5:]] != [served.versions[1]] * 5:
        time.sleep(0.2)
    loop.stop.set()
    loop.join()
    assert [s for s, *_ in loop.seen if s != 200] == []
    versions = [v for _, v, _, _ in loop.seen]
    assert versions[0] == served.versions[0] and versions[-1] == served.versions[1]


def test_admin_route_promotes_and_the_next_forecast_uses_it(served: World) -> None:
    route = f"{served.url}/v1/models/{served.versions[0]}/promote"
    assert httpx.post(route, json={"force": True}, headers=served.headers("forecaster")).status_code == 403
    assert httpx.post(f"{served.url}/v1/models/20990101T000000Z-000000/promote", json={"force": True},
                      headers=served.headers("admin"), timeout=60).status_code == 404
    promoted = httpx.post(route, json={"force": True}, headers=served.headers("admin"), timeout=60)
    assert promoted.status_code == 200 and promoted.json()["cities"] == ["DEL", "MUM"]
    after = _post(served, "forecaster", {"city": "MUM", "start": "2024-04-08T00:00:00"}).json()
    assert after["model_version"] == served.versions[0] and after["cached"] is False  # the old answers were purged
    models = httpx.get(f"{served.url}/v1/models", headers=served.headers("viewer")).json()
    assert {m["version"]: m["stage"] for m in models} == {served.versions[0]: "production", served.versions[1]: "archived"}


def _replica_actor(deployment: str):
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
             if a["namespace"] == "serve" and f"#{deployment}#" in a["name"]]
    return names[0], ray.get_actor(names[0], namespace="serve")


def test_killing_a_member_replica_degrades_then_recovers(served: World) -> None:
    name, actor = _replica_actor("XGBoost")
    loop = _Loop(served)
    loop.start()
    time.sleep(1)
    ray.kill(actor, no_restart=True)
    killed_at = len(loop.seen)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        replaced = [n for n in (a["name"] for a in ray.util.list_named_actors(all_namespaces=True)) if "#XGBoost#" in n and n != name]
        recent = loop.seen[-5:]
        if replaced and len(loop.seen) > killed_at + 5 and all(s == 200 and not d for s, _, d, _ in recent):
            break
        time.sleep(0.5)
    loop.stop.set()
    loop.join()
    assert replaced, "Serve did not start a new XGBoost replica"
    assert [s for s, *_ in loop.seen if s != 200] == []  # a dead member degrades answers, never fails them
    degraded_answers = [members for _, _, degraded, members in loop.seen if degraded]
    assert degraded_answers, "no answer went without the killed member: it was not on the request path"
    for members in degraded_answers:
        left_out = [m for m in members if not m["used"]]
        assert [m["name"] for m in left_out] == ["xgboost"] and left_out[0]["reason"] and left_out[0]["weight"] == 0
        assert abs(sum(m["weight"] for m in members) - 1) < 1e-6  # renormalised over the rest
    assert not loop.seen[-1][2]


def _route_counts(text: str, route: str) -> tuple[float, float]:
    """(requests answered 200, latency observations) of ``route``, summed over replicas."""
    requests = sum(v for labels, v in samples(text, "efp_http_requests_total") if labels["route"] == route and labels["status"] == "200")
    observed = sum(v for labels, v in samples(text, "efp_http_request_seconds_count") if labels["route"] == route)
    return requests, observed


def test_metrics_show_live_values_after_a_few_requests(served: World) -> None:
    """`curl /metrics` after a few requests: the route's counter went up by them and its latency
    histogram observed them; Ray's metrics export (every replica, relabelled as the PodMonitor
    does) shows the same counts under the same names."""
    route = "/v1/cities"
    before = _route_counts(httpx.get(f"{served.url}/metrics").text, route)
    for _ in range(3):
        assert httpx.get(f"{served.url}{route}", headers=served.headers("viewer")).status_code == 200
    after = _route_counts(httpx.get(f"{served.url}/metrics").text, route)
    assert after[0] - before[0] == 3 and after[1] - before[1] == 3, (before, after)
    scraped = httpx.get(f"{served.url}/metrics").text
    assert [v for labels, v in samples(scraped, "efp_http_request_seconds_sum") if labels["route"] == route][0] > 0
    deadline = time.monotonic() + 60  # Ray's agent collects every metrics_report_interval_ms
    exported = _route_counts(scrape_ray_nodes(), route)
    while exported < after and time.monotonic() < deadline:
        time.sleep(0.5)
        exported = _route_counts(scrape_ray_nodes(), route)
    assert exported == after


def test_metrics_and_health(served: World) -> None:
    metrics = httpx.get(f"{served.url}/metrics").text
    assert "efp_http_requests_total" in metrics and 'efp_forecast_cache_total{result="hit"}' in metrics
    assert httpx.get(f"{served.url}/healthz").json() == {"status": "ok", "auth": "enabled", "warning": None}
    assert httpx.get(f"{served.url}/readyz").status_code == 200
    assert httpx.get(f"{served.url}/openapi.json").json()["paths"]["/v1/forecast"]["post"]


def test_the_ingress_reaches_every_deployment_over_the_configured_transport(served: World) -> None:
    """Throughput-optimised Serve sends requests between deployments over gRPC, but a handle keeps
    the transport of the process that made it. The bound handles come from this test driver,
    which (in the whole suite) imported ``ray.serve`` before the fast paths were in its
    environment, as any driver that imports it early: the Ingress must remake them in its replica."""
    import asyncio

    from ray import serve

    from serving.app import APP_NAME
    from serving.config import load_deployments_config

    expected = "grpc" if load_deployments_config().fast_paths.throughput_optimized else "actor"
    handle = serve.get_deployment_handle("Ingress", APP_NAME)
    # With the fast paths in this driver's Serve, a handle routes on the caller's event loop, and Serve keeps
    # the handles it made until serve.shutdown, which schedules their routers' shutdown there: the loop stays open.
    transports = asyncio.new_event_loop().run_until_complete(handle.transports.remote())
    assert set(transports) == {"Preprocessor", "Ensemble", "XGBoost", "LSTM", "Transformer"}
    assert set(transports.values()) == {expected}, transports


def test_a_forecast_the_graph_computes_is_stored_by_a_writer_outside_the_ingress(served: World) -> None:
    from datetime import date

    from ray.util.state import list_actors

    from data.stores import open_forecasts

    body = {"city": "MUM", "start": "2024-04-09T00:00:00", "horizon": "1d"}
    assert _post(served, "forecaster", body, **{"Cache-Control": "no-cache"}).status_code == 200
    store = open_forecasts(served.settings)
    deadline = time.monotonic() + 30  # the recorder gathers for GATHER_S, then the actor writes
    stored: list = []
    while not stored and time.monotonic() < deadline:
        stored = [s for s in store.list("MUM") if s.target_day == date(2024, 4, 9)]
        time.sleep(0.2)
    assert [(s.source, s.blocks, s.degraded) for s in stored] == [("served", 96, False)]
    writers = list_actors(filters=[("class_name", "=", "_WriterActor"), ("state", "=", "ALIVE")])
    assert len(writers) == 1  # one per ingress replica, in a process of its own
