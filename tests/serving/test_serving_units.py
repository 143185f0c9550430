"""Serving parts on their own, against real Redis and PostgreSQL: the deployments config,
`serve build` output, the token bucket, the response cache purge, the key stores."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from data.settings import REPO_ROOT
from serving.config import ServeConfigError, load_deployments_config
from serving.auth.keys import PostgresKeyStore, split_key, verify
from serving.schemas import FieldError, horizon_steps


def test_deployments_config_refuses_a_misspelt_autoscaling_key(tmp_path: Path) -> None:
    text = (REPO_ROOT / "configs/serve/deployments.yaml").read_text().replace("target_ongoing_requests: 16", "target_ongoing_request: 16", 1)
    bad = tmp_path / "deployments.yaml"
    bad.write_text(text)
    with pytest.raises(ServeConfigError, match=r"deployments.Preprocessor.autoscaling_config.target_ongoing_request': unknown key"):
        load_deployments_config(bad)
    spec = load_deployments_config().spec("XGBoost")
    assert spec.serve_options()["ray_actor_options"] == {"num_cpus": 0.3} and spec.batch is not None


@pytest.mark.parametrize("application, kept", [("app", "app.yaml"), ("production_app", "app.prod.yaml")])
def test_serve_build_output_is_the_committed_app_yaml(tmp_path: Path, application: str, kept: str) -> None:
    out = tmp_path / "app.yaml"
    serve = Path(sys.executable).parent / "serve"
    subprocess.run([str(serve), "build", f"serving.app:{application}", "-o", str(out)], cwd=REPO_ROOT, check=True,
                   capture_output=True, timeout=120)
    assert out.read_text() == (REPO_ROOT / "configs/serve" / kept).read_text(), \
        f"configs/serve/{kept} is stale: run `serve build serving.app:{application} -o configs/serve/{kept}`"


def test_horizon_steps_and_durations() -> None:
    assert horizon_steps(None, 15) == 96 and horizon_steps("1d", 15) == 96 and horizon_steps("90m", 30) == 3 and horizon_steps(4, 60) == 4
    with pytest.raises(FieldError, match="horizon"):
        horizon_steps("20m", 15)
    with pytest.raises(FieldError, match="horizon"):
        horizon_steps("8d", 15)


def test_redis_token_bucket_refuses_then_says_when(redis_url: str, redis_prefix: str) -> None:
    asyncio.run(_token_bucket(redis_url, redis_prefix))


async def _token_bucket(redis_url: str, redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    from serving.metrics import ServiceMetrics
    from serving.auth.ratelimit import RateLimiter

    limiter = RateLimiter(aioredis.Redis.from_url(redis_url), f"{redis_prefix}{uuid.uuid4().hex[:6]}:", ServiceMetrics())
    decisions = [await limiter.take("key:a", 2) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False] and decisions[2].retry_after_s == 30
    assert (await limiter.take("key:b", 2)).allowed  # buckets are per credential


def test_redis_cache_purge_drops_every_version(redis_url: str, redis_prefix: str) -> None:
    asyncio.run(_cache_purge(redis_url, redis_prefix))


async def _cache_purge(redis_url: str, redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    from serving.cache import ResponseCache, cache_key
    from serving.metrics import ServiceMetrics

    prefix = f"{redis_prefix}{uuid.uuid4().hex[:6]}:"
    cache = ResponseCache(aioredis.Redis.from_url(redis_url), prefix, 60, ServiceMetrics())
    keys = [cache_key(prefix, city="DEL", start="s", horizon=96, quantiles=[0.5], model_version=v, weather=None) for v in ("a", "b")]
    other_weather = cache_key(prefix, city="DEL", start="s", horizon=96, quantiles=[0.5], model_version="a", weather=[{"t": 1}])
    assert other_weather not in keys and keys[0].startswith(f"{prefix}forecast:a:")
    for key in keys:
        await cache.set(key, {"city": "DEL"})
    assert await cache.get(keys[1]) == {"city": "DEL"}
    assert await cache.purge() == 2 and await cache.get(keys[0]) is None


def test_a_replica_answers_repeated_hits_from_its_near_cache_until_it_expires(redis_url: str, redis_prefix: str) -> None:
    asyncio.run(_near_cache(redis_url, redis_prefix))


async def _near_cache(redis_url: str, redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    from serving.cache import ResponseCache, cache_key
    from serving.metrics import ServiceMetrics

    now = [100.0]
    redis = aioredis.Redis.from_url(redis_url)
    prefix = f"{redis_prefix}{uuid.uuid4().hex[:6]}:"
    cache = ResponseCache(redis, prefix, 60, ServiceMetrics(), near_s=2.0, clock=lambda: now[0])
    key = cache_key(prefix, city="DEL", start="s", horizon=96, quantiles=[0.5], model_version="a", weather=None)
    await cache.set_raw(key, b"computed")
    assert await redis.get(key) == b"computed"  # written through to Redis for the other replicas
    await redis.delete(key)  # dropped in Redis (another replica's purge, or expiry)
    assert await cache.get_raw(key) == b"computed"  # this replica answers from memory, without asking Redis
    now[0] += 2.5
    assert await cache.get_raw(key) is None  # the near copy expired: Redis was asked, and has none
    await redis.set(key, b"from redis", ex=60)
    assert await cache.get_raw(key) == b"from redis"
    await redis.set(key, b"changed", ex=60)
    assert await cache.get_raw(key) == b"from redis"  # kept near for near_s after the read
    assert await cache.purge() == 1 and await cache.get_raw(key) is None  # the hot reload's purge clears it too


def test_postgres_key_store_keeps_only_a_hash(pg_clean_url: str) -> None:
    import psycopg

    store = PostgresKeyStore(pg_clean_url)
    record, key = store.create("ops-team", "forecaster", rate_limit_per_minute=30)
    key_id, secret = split_key(key)
    assert key_id == record.id and verify(store.get(key_id), secret) and not verify(store.get(key_id), secret + "x")
    with psycopg.connect(pg_clean_url) as conn:
        stored = conn.execute("SELECT key_hash, role, rate_limit_per_minute FROM api_keys").fetchall()
    assert stored[0][1:] == ("forecaster", 30) and secret not in stored[0][0]
    store.revoke(record.id)
    assert not verify(store.get(key_id), secret) and [k.name for k in store.list()] == ["ops-team"]


def test_keys_cli_prints_the_key_once_and_revokes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from data.settings import get_settings
    from ray_apps.cli import app

    monkeypatch.setenv("EFP_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        created = runner.invoke(app, ["keys", "create", "--role", "forecaster", "--name", "ops-team", "--json"])
        assert created.exit_code == 0, created.output
        key = json.loads(created.output)["key"]
        listed = runner.invoke(app, ["keys", "list", "--json"])
        rows = json.loads(listed.output)
        assert [(r["name"], r["role"], r["revoked_at"]) for r in rows] == [("ops-team", "forecaster", None)]
        assert key.rsplit("_", 1)[1] not in listed.output
        assert runner.invoke(app, ["keys", "revoke", rows[0]["id"]]).exit_code == 0
        assert json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)[0]["revoked_at"] is not None
        bad = runner.invoke(app, ["keys", "create", "--role", "boss", "--name", "x"])
        assert bad.exit_code != 0 and "role" in bad.output
    finally:
        get_settings.cache_clear()


def test_rs256_bearer_tokens_verify_with_the_public_key_only() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from data.settings import load_settings
    from serving.auth import AuthError, Authenticator, issue_token

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    settings = load_settings(jwt_algorithm="RS256", jwt_public_key=public, environment="test")
    auth = Authenticator(settings, None)
    principal = asyncio.run(auth.authenticate(f"Bearer {issue_token(settings, 'grid-ops', 'forecaster', private_key=pem)}", None))
    assert (principal.id, principal.role) == ("jwt:grid-ops", "forecaster")
    hs256 = issue_token(load_settings(environment="test", jwt_secret="x" * 32), "grid-ops", "admin")
    with pytest.raises(AuthError):  # an HS256 token is refused when RS256 is configured
        asyncio.run(auth.authenticate(f"Bearer {hs256}", None))
    with pytest.raises(AuthError, match="credentials required"):
        asyncio.run(auth.authenticate(None, None))


def test_in_memory_history_slices_like_the_store(tiny_trained) -> None:
    import pandas as pd

    from data.stores import open_store
    from serving.history import InMemoryHistory

    store = open_store(tiny_trained.settings)
    cached = InMemoryHistory(store, ttl_s=60)
    start, end = tiny_trained.data_start + pd.Timedelta(days=3, minutes=15), tiny_trained.data_start + pd.Timedelta(days=5)
    for read in ("read_load", "read_weather"):
        expected = getattr(store, read)("DEL", start, end).sort_values("ts").reset_index(drop=True)
        got = getattr(cached, read)("DEL", start, end)
        assert len(got) == len(expected) > 0
        pd.testing.assert_series_equal(pd.to_datetime(got["ts"], utc=True), pd.to_datetime(expected["ts"], utc=True))
    assert len(cached.read_load("DEL", None, start)) == len(store.read_load("DEL", None, start))
    assert cached.resolution_minutes("DEL") == store.resolution_minutes("DEL") == 15


class _CountingStore:
    """The real store, counting reads; ``fail`` makes later reads raise (the store went down)."""

    def __init__(self, store) -> None:
        self.store, self.reads, self.fail = store, 0, False

    def read_load(self, city, *args, **kwargs):
        self.reads += 1
        if self.fail:
            raise ConnectionError("store down")
        return self.store.read_load(city, *args, **kwargs)

    def read_weather(self, city, *args, **kwargs):
        return self.store.read_weather(city, *args, **kwargs)


def _wait_for_refreshes() -> None:
    import threading

    for thread in [t for t in threading.enumerate() if t.name.startswith("history-refresh-")]:
        thread.join(timeout=30)


def test_preloaded_history_answers_without_a_store_read(tiny_trained) -> None:
    from data.stores import open_store
    from serving.history import InMemoryHistory

    store = _CountingStore(open_store(tiny_trained.settings))
    cached = InMemoryHistory(store, ttl_s=600)
    cached.preload(["DEL"])
    assert store.reads == 1
    for _ in range(3):
        assert len(cached.read_load("DEL")) > 0
    assert store.reads == 1, "requests after the preload read memory only"


def test_stale_history_is_served_while_one_background_read_refreshes_it(tiny_trained) -> None:
    from data.stores import open_store
    from serving.history import InMemoryHistory

    store = _CountingStore(open_store(tiny_trained.settings))
    cached = InMemoryHistory(store, ttl_s=0)  # every entry is stale at once
    rows = len(cached.read_load("DEL"))
    assert store.reads == 1
    store.fail = True  # the refresh fails: the copy in memory keeps answering
    assert len(cached.read_load("DEL")) == rows
    _wait_for_refreshes()
    assert store.reads == 2, "a stale entry started exactly one background refresh"
    assert len(cached.read_load("DEL")) == rows
    _wait_for_refreshes()
    store.fail = False
    cached.read_load("DEL")
    _wait_for_refreshes()
    assert store.reads == 4, "each later stale read tries again; none waited on the store"


def test_a_feature_set_survives_the_hop_between_deployments(tiny_trained) -> None:
    """Feature sets pickle their times as int64 (serving hops): every field comes back equal."""
    import dataclasses
    import pickle

    import numpy as np
    import pandas as pd

    from training.bundle import load_bundle
    from training.inputs import build_forecast_input

    bundle = load_bundle(tiny_trained.bundle_dir)
    start = tiny_trained.data_end.tz_convert("Asia/Kolkata").normalize().tz_convert("UTC")
    as_of = start - pd.Timedelta(hours=14)
    features = bundle.preprocessor.features(
        build_forecast_input(tiny_trained.settings, "DEL", start, 96, bundle_or_preprocessor=bundle, as_of=as_of))
    again = pickle.loads(pickle.dumps(features))
    assert again.timestamps.equals(features.timestamps) and str(again.timestamps.tz) == "UTC"
    assert again.timestamps.dtype == features.timestamps.dtype
    local = dataclasses.replace(features, timestamps=features.timestamps.tz_convert("Asia/Kolkata"))
    local_again = pickle.loads(pickle.dumps(local)).timestamps
    assert str(local_again.tz) == "UTC" and (local_again.asi8 == features.timestamps.asi8).all()  # the same instants
    assert (again.start, again.as_of, again.data_until) == (features.start, features.as_of, features.data_until)
    assert again.as_of is not None and again.lead_steps == features.lead_steps > 0
    for name in features.samples.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(again.samples, name), getattr(features.samples, name))
    member = next(iter(bundle.members.values()))
    assert member.predict([again])[0].tolist() == member.predict([features])[0].tolist()


def test_the_recorder_keeps_a_forecast_as_its_record_would_be_kept() -> None:
    """The recorder builds the store's rows from arrays (``pending_blocks``); they must be the rows of the
    record the same forecast makes: ``as_of`` the requested issue time only when it is earlier than the
    computation, the target day the city's local date of the first block, the lead from ``as_of``."""
    from datetime import date

    import numpy as np
    import pandas as pd

    from data.stores.forecasts import ForecastPoint, StoredForecast, blocks_of, valid_blocks
    from serving.recorder import PendingForecast, pending_blocks

    stamps = pd.date_range("2024-04-09T18:30Z", periods=96, freq="15min")  # 10 April from midnight in Kolkata
    quantiles = np.column_stack([np.arange(96.0), np.arange(96.0) + 1, np.arange(96.0) + 2]) + 900
    issued = pd.Timestamp("2024-04-09T10:00Z")
    earlier, later = issued - pd.Timedelta(hours=6), issued + pd.Timedelta(hours=1)
    pending, records = [], []
    for i, (requested, as_of) in enumerate([(None, issued), (earlier, earlier), (later, issued)]):
        pending.append(PendingForecast("DEL", "Asia/Kolkata", f"v{i}", stamps.as_unit("ns").asi8, quantiles + i,
                                       None if requested is None else requested.value, i == 2, issued.value))
        points = [ForecastPoint(ts=ts.to_pydatetime(), p10=q[0], p50=q[1], p90=q[2]) for ts, q in zip(stamps, quantiles + i)]
        records.append(StoredForecast(city="DEL", target_day=date(2024, 4, 10), as_of=as_of.to_pydatetime(), model_version=f"v{i}",
                                      issued_at=issued.to_pydatetime(), lead_hours=(stamps[0] - as_of) / pd.Timedelta(hours=1),
                                      degraded=i == 2, source="served", points=points))
    rows = valid_blocks(pending_blocks(pending, "served"))
    pd.testing.assert_frame_equal(rows, blocks_of(records))
    assert sorted(set(rows["lead_hours"])) == [8.5, 14.5]
