"""Rate limits charged by work, who may bypass the cache, a Redis outage behind a circuit
breaker, registry failures without internal names, promotions that record who made them and
API keys that expire (issue 11, findings 6, 9, 14 and 15). In-process app over the tiny real
bundle; Redis is a private ``redis-server`` the test stops and starts again, S3 is moto's
server on loopback, PostgreSQL the suite's real server.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from data.settings import get_settings, load_settings
from serving.api import create_api
from serving.auth import Authenticator, Principal
from serving.auth.keys import FileKeyStore, PostgresKeyStore, open_key_store
from serving.auth.ratelimit import RateLimiter
from serving.cache import redis_client
from serving.metrics import ServiceMetrics
from serving.wiring import local_state
from training.registry import open_registry

from faults import PrivateRedis, free_port
from serving_world import World, build_world

#: A day-ahead forecast inside the tiny bundle's data (issued 14 h ahead): 96 quarter-hours.
REQUEST = {"city": "DEL", "start": "2024-04-10T00:00:00", "as_of": "2024-04-09T10:00:00"}
GENERIC_503 = "model registry unavailable; try again shortly"


@pytest.fixture(scope="module")
def world(tiny_trained, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tiny_trained, tmp_path_factory.mktemp("api_limits"), None)


def _client(world: World, address: str) -> TestClient:
    return TestClient(create_api(local_state(world.settings)), client=(address, 4000))


def _key(world: World, role: str, per_minute: int | None = None) -> dict[str, str]:
    key = open_key_store(world.settings).create(f"test-{uuid.uuid4().hex[:6]}", role, rate_limit_per_minute=per_minute)[1]
    return {"X-API-Key": key}


# -- finding 6: charged by work -----------------------------------------------------------
def test_a_batch_is_charged_items_times_days_before_any_work(world: World) -> None:
    """Each uncached day-ahead item costs one token: with 2 a minute, three items can never pass
    (a clear 422, not an eternal 429), two take the whole budget, and the next request waits."""
    client = _client(world, "10.9.0.1")
    fresh = {**_key(world, "forecaster", per_minute=2), "Cache-Control": "no-cache"}
    over = client.post("/v1/forecast/batch", json={"requests": [REQUEST] * 3}, headers=fresh)
    assert over.status_code == 422, over.text[:300]
    assert "costs 3 rate-limit tokens" in over.text and "2 per minute" in over.text
    assert client.post("/v1/forecast/batch", json={"requests": [REQUEST] * 2}, headers=fresh).status_code == 200
    refused = client.post("/v1/forecast", json=REQUEST, headers=fresh)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def test_a_computed_forecast_costs_its_days_and_a_cache_hit_one_token(world: World) -> None:
    client = _client(world, "10.9.0.2")
    headers = _key(world, "forecaster", per_minute=3)
    other_day = {**REQUEST, "start": "2024-04-11T00:00:00", "as_of": "2024-04-10T10:00:00"}
    batch = client.post("/v1/forecast/batch", json={"requests": [REQUEST, other_day]}, headers=headers)
    assert batch.status_code == 200 and [r["status"] for r in batch.json()["results"]] == [200, 200]  # 2 tokens
    hit = client.post("/v1/forecast", json=other_day, headers=headers)  # from the cache: 1 token
    assert hit.status_code == 200 and hit.json()["cached"] is True
    assert client.post("/v1/forecast", json=other_day, headers=headers).status_code == 429


def test_the_cost_unit_is_the_forecast_day() -> None:
    import pandas as pd

    from serving.engines.base import ForecastJob
    from serving.service import forecast_cost

    def job(steps: int, resolution: int = 15) -> ForecastJob:
        return ForecastJob("v", "DEL", pd.Timestamp("2024-04-10", tz="UTC"), steps, resolution)

    assert [forecast_cost(job(n)) for n in (1, 96, 97, 672)] == [1, 1, 2, 7]
    assert forecast_cost(job(168, 60)) == 7


def test_only_forecasters_and_admins_may_bypass_the_cache() -> None:
    from serving.api.deps import Metered

    async def free(_: float) -> None:
        return None

    def use_cache(role: str, header: str | None) -> bool:
        return Metered(Principal(f"key:{role}", role), free).use_cache(header)

    assert use_cache("viewer", "no-cache") is True  # ignored: answered from the cache
    assert use_cache("forecaster", "no-cache") is False and use_cache("admin", "No-Cache") is False
    assert use_cache("forecaster", None) is True


# -- finding 15: Redis behind a circuit breaker, per-replica fallback ------------------------
class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _hits(metrics: ServiceMetrics) -> float:
    return metrics.registry.get_sample_value("efp_forecast_cache_total", {"result": "hit"}) or 0.0


def test_redis_stopped_and_restarted_no_failed_forecast(tiny_trained, tmp_path: Path) -> None:
    """Fault test: forecasts keep answering 200 while a private Redis is down; the breaker opens
    after the configured failures and then no socket is tried; after a restart and the cool-down
    the cache is used again (a hit in the cache metrics)."""
    from serving.redis_breaker import CircuitBreaker

    redis = PrivateRedis(tmp_path).start()
    try:
        world = build_world(tiny_trained, tmp_path / "world", None, redis_url=redis.url, redis_prefix="efp-breaker:")
        # No near cache: every lookup goes to Redis, so each request below shows what Redis being down does.
        state = local_state(world.settings.model_copy(
            update={"serve": world.settings.serve.model_copy(update={"near_cache_s": 0.0})}))
        clock = ManualClock()  # the cool-down is the test's to end, so nothing here depends on timing
        breaker = CircuitBreaker(world.settings.serve, clock=clock)
        state.service.cache.breaker = state.limiter.breaker = breaker
        with TestClient(create_api(state), client=("10.9.1.1", 4000)) as client:
            def forecast() -> dict:
                response = client.post("/v1/forecast", json=REQUEST, headers=world.headers("forecaster"))
                assert response.status_code == 200, response.text
                return response.json()

            assert [forecast()["cached"], forecast()["cached"]] == [False, True]
            redis.kill()
            forecast()  # Redis fails: rate limit, cache lookup and store, each answered without it
            assert breaker.state == "open"
            attempts = breaker.attempts
            answers = [forecast() for _ in range(3)]
            assert breaker.attempts == attempts  # open: no socket tried at all
            assert all(not a["cached"] for a in answers)
            redis.start()
            clock.now += world.settings.serve.redis_breaker_cooldown_s
            assert breaker.state == "half_open"
            hits = _hits(state.metrics)
            assert forecast()["cached"] is False  # the trial call succeeded; the restarted Redis is empty
            assert breaker.state == "closed"
            assert forecast()["cached"] is True and _hits(state.metrics) == hits + 1
    finally:
        redis.kill()


def test_the_breaker_opens_after_n_failures_and_one_trial_decides() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from data.settings import ServeSettings
    from serving.redis_breaker import CircuitBreaker, CircuitOpenError

    clock = ManualClock()
    breaker = CircuitBreaker(ServeSettings(redis_breaker_failures=2, redis_breaker_cooldown_s=5), clock=clock)

    async def down() -> None:
        raise RedisConnectionError("refused")

    async def up() -> str:
        return "ok"

    async def run() -> None:
        for _ in range(2):
            with pytest.raises(RedisConnectionError):
                await breaker.call(down)
        with pytest.raises(CircuitOpenError):
            await breaker.call(up)
        clock.now += 5
        with pytest.raises(RedisConnectionError):
            await breaker.call(down)  # the one trial fails: open again for a whole cool-down
        assert breaker.state == "open"
        clock.now += 5
        assert await breaker.call(up) == "ok" and breaker.state == "closed"
        assert breaker.attempts == 4

    asyncio.run(run())


def test_without_redis_each_replica_allows_its_share_of_the_rate() -> None:
    """Three ingress replicas, 6 a minute: while Redis is down each replica allows 2, so the cluster 6."""
    limiter = RateLimiter(redis_client(f"redis://127.0.0.1:{free_port()}/0"), "efp:", ServiceMetrics(), replicas=3)

    async def takes() -> list[bool]:
        return [(await limiter.take("key:a", 6)).allowed for _ in range(3)]

    assert asyncio.run(takes()) == [True, True, False]


def test_the_serve_app_tells_the_ingress_how_many_replicas_share_the_limit() -> None:
    from serving.app import ingress_settings
    from serving.config import load_deployments_config

    spec = load_deployments_config().spec("Ingress")
    overrides = ingress_settings({"serve": {"cache_ttl_s": 5}}, spec.max_replicas)
    settings = load_settings(**overrides)
    assert settings.serve.ingress_replicas == spec.max_replicas and settings.serve.cache_ttl_s == 5


# -- finding 9: registry failures ---------------------------------------------------------
def test_registry_failures_are_503_without_internal_names(tiny_trained, tmp_path: Path, s3_endpoint: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    bucket = f"limits-{uuid.uuid4().hex[:8]}"
    world = build_world(tiny_trained, tmp_path, None, registry_uri=f"s3://{bucket}/reg", s3_endpoint_url=s3_endpoint)
    client = _client(world, "10.9.2.1")
    headers = world.headers("forecaster")

    def forecast(**extra: str):
        return client.post("/v1/forecast", json={**REQUEST, **extra}, headers=headers)

    assert forecast().status_code == 200  # production, fetched from S3
    unknown = forecast(model_version="20990101T000000Z-abcdef")  # the caller named what does not exist
    assert unknown.status_code == 404 and bucket not in unknown.text
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=f"reg/{world.versions[1]}/")["Contents"]:
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    with caplog.at_level("ERROR", logger="efp.serving"):
        gone = forecast(model_version=world.versions[1])  # registered, but its artifacts are gone: ours
    assert gone.status_code == 503 and gone.json()["detail"] == GENERIC_503
    assert any(bucket in r.getMessage() for r in caplog.records)  # the details are in the log only

    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    s3.delete_bucket(Bucket=bucket)  # the bucket vanishes under the running service
    vanished = forecast(model_version=world.versions[1])
    assert vanished.status_code == 503 and vanished.json()["detail"] == GENERIC_503
    listing = client.get("/v1/models", headers=headers)
    assert listing.status_code == 503 and bucket not in listing.text
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["detail"] == "registry unreachable" and bucket not in ready.text

    unreachable = world.settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    cut_off = TestClient(create_api(local_state(unreachable)), client=("10.9.2.2", 4000))
    down = cut_off.post("/v1/forecast", json=REQUEST, headers=headers)
    assert down.status_code == 503 and down.json()["detail"] == GENERIC_503 and "127.0.0.1" not in down.text


# -- finding 14: who promoted, key expiry --------------------------------------------------
def test_a_promotion_records_the_admin_who_made_it(world: World) -> None:
    client = _client(world, "10.9.3.1")
    admin_key = world.keys["admin"]
    key_id = admin_key.split("_")[1]
    promoted = client.post(f"/v1/models/{world.versions[1]}/promote", json={"force": True}, headers=world.headers("admin"))
    assert promoted.status_code == 200, promoted.text[:300]
    assert promoted.json()["promoted_by"] == f"key:{key_id}"
    listed = {m["version"]: m for m in client.get("/v1/models", headers=world.headers("viewer")).json()}
    assert listed[world.versions[1]]["promoted_by"] == f"key:{key_id}"
    assert listed[world.versions[0]]["promoted_by"] is None  # no longer production


def test_the_cli_records_who_promoted(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from ray_apps.cli import app

    monkeypatch.setenv("EFP_DATA_DIR", str(world.settings.data_dir))
    monkeypatch.setenv("EFP_REGISTRY_URI", world.settings.registry_uri)
    monkeypatch.setenv("EFP_ENVIRONMENT", "test")
    monkeypatch.setenv("USER", "operator-on-shift")
    get_settings.cache_clear()
    runner = CliRunner()
    production = open_registry(world.settings).production("DEL").version
    other = next(v for v in world.versions if v != production)
    try:
        by_user = runner.invoke(app, ["models", "promote", other, "--force", "--json"])
        assert by_user.exit_code == 0, by_user.output
        assert json.loads(by_user.output)["promoted_by"] == "operator-on-shift"
        listed = {v["version"]: v for v in json.loads(runner.invoke(app, ["models", "list", "--json"]).output)}
        assert listed[other]["promoted_by"] == "operator-on-shift"
        assert runner.invoke(app, ["models", "promote", production, "--force", "--by", "alice"]).exit_code == 0
        assert "alice" in runner.invoke(app, ["models", "list"]).output
    finally:
        get_settings.cache_clear()


def _expire_now_file(path: Path, key_id: str) -> None:
    """Move a stored key's expiry into the past, as time would."""
    rows = json.loads(path.read_text())
    for row in rows:
        if row["id"] == key_id:
            row["expires_at"] = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    path.write_text(json.dumps(rows))


@pytest.mark.parametrize("where", ["file", "postgres"])
def test_an_expired_key_is_refused_with_a_clear_401(world: World, where: str, request: pytest.FixtureRequest) -> None:
    if where == "file":
        path = world.settings.metadata_dir / f"keys-{uuid.uuid4().hex[:6]}.json"
        store = FileKeyStore(path)
    else:
        url = request.getfixturevalue("pg_clean_url")
        store = PostgresKeyStore(url)
    record, key = store.create("contractor", "viewer", expires_in=timedelta(days=30))
    assert record.expires_at is not None and record.expires_at - record.created_at == timedelta(days=30)
    listed = {k.id: k for k in store.list()}
    assert listed[record.id].expires_at == record.expires_at
    state = local_state(world.settings)
    state.auth, state.keys = Authenticator(world.settings, store), store
    client = TestClient(create_api(state), client=("10.9.4.1", 4000))
    assert client.get("/v1/cities", headers={"X-API-Key": key}).status_code == 200

    soon = store.create("expiring", "viewer", expires_in=timedelta(minutes=1))
    if where == "file":
        _expire_now_file(path, soon[0].id)
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = %s", (soon[0].id,))
    refused = client.get("/v1/cities", headers={"X-API-Key": soon[1]})
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


def test_keys_cli_creates_a_key_that_expires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ray_apps.cli import app

    monkeypatch.setenv("EFP_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        created = runner.invoke(app, ["keys", "create", "--role", "viewer", "--name", "temp", "--expires-in", "30d", "--json"])
        assert created.exit_code == 0, created.output
        expires = datetime.fromisoformat(json.loads(created.output)["expires_at"])
        assert timedelta(days=29, hours=23) < expires - datetime.now(timezone.utc) <= timedelta(days=30)
        rows = json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)
        assert datetime.fromisoformat(rows[0]["expires_at"]) == expires
        bad = runner.invoke(app, ["keys", "create", "--role", "viewer", "--name", "x", "--expires-in", "soon"])
        assert bad.exit_code != 0 and "--expires-in" in bad.output
    finally:
        get_settings.cache_clear()
