"""The HTTP API under hostile or broken conditions (issue 11): floods of made-up keys, a key
store that goes away, and what a caller may learn from an error. In-process app over the
tiny real bundle; PostgreSQL is the suite's real server, reached through a proxy the test
can cut."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.api import create_api
from serving.auth import Authenticator
from serving.auth.keys import ApiKey, FileKeyStore, PostgresKeyStore
from serving.wiring import local_state

from faults import TcpProxy
from serving_world import World, build_world


class CountingKeys(FileKeyStore):
    """The real file store, counting how often the request path reaches it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.lookups = 0

    def get(self, key_id: str) -> ApiKey | None:
        self.lookups += 1
        return super().get(key_id)


@pytest.fixture(scope="module")
def world(tiny_trained, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tiny_trained, tmp_path_factory.mktemp("api_security"), None,
                       serve={"rate_limit_per_address_per_minute": 5})


def _app(world: World, keys) -> FastAPI:
    state = local_state(world.settings)
    state.auth, state.keys = Authenticator(world.settings, keys), keys
    return create_api(state)


def _fake_key() -> str:
    return f"efp_{uuid.uuid4().hex[:12]}_{uuid.uuid4().hex}"


def test_made_up_keys_are_limited_per_address_before_any_lookup(world: World, tmp_path: Path) -> None:
    keys = CountingKeys(world.settings.metadata_dir / "api_keys.json")
    app = _app(world, keys)
    attacker, caller = TestClient(app, client=("10.0.0.66", 4000)), TestClient(app, client=("10.0.0.7", 4000))
    statuses = [attacker.get("/v1/cities", headers={"X-API-Key": _fake_key()}).status_code for _ in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    assert keys.lookups == 5  # the refused requests never reached the store
    assert caller.get("/v1/cities", headers=world.headers("viewer")).status_code == 200


def test_a_repeated_unknown_key_is_looked_up_once(world: World) -> None:
    keys = CountingKeys(world.settings.metadata_dir / "api_keys.json")
    app = _app(world, keys)
    fake = _fake_key()
    for index in range(4):
        client = TestClient(app, client=(f"10.0.1.{index}", 4000))  # several addresses: the limit is not what stops it
        assert client.get("/v1/cities", headers={"X-API-Key": fake}).status_code == 401
    assert keys.lookups == 1


@pytest.fixture()
def pg_proxy(pg_clean_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """The suite's PostgreSQL behind a proxy this test can cut: (proxy, URL through it)."""
    from data.stores.postgres.pool import close_pools

    host_port, database = pg_clean_url.split("@", 1)[1].split("/", 1)
    host, port = host_port.split(":")
    proxy = TcpProxy((host, int(port))).start()
    yield proxy, proxy.url("postgresql://postgres@{}/" + database)
    proxy.stop()
    close_pools()


def test_key_store_outage_answers_503_generically_and_known_keys_keep_working(world: World, pg_proxy) -> None:
    proxy, url = pg_proxy
    store = PostgresKeyStore(url)
    known, unseen = store.create("known", "viewer")[1], store.create("unseen", "viewer")[1]
    client = TestClient(_app(world, store), client=("10.0.2.1", 4000))
    assert client.get("/v1/cities", headers={"X-API-Key": known}).status_code == 200
    proxy.stop()
    began = time.monotonic()
    down = client.get("/v1/cities", headers={"X-API-Key": unseen})
    assert down.status_code == 503 and time.monotonic() - began < 15
    assert down.json()["detail"] == "API key store unavailable; try again shortly"
    assert client.get("/v1/cities", headers={"X-API-Key": known}).status_code == 200  # looked up before the outage
    proxy.start()
    deadline = time.monotonic() + 20
    while (status := client.get("/v1/cities", headers={"X-API-Key": unseen}).status_code) != 200 and time.monotonic() < deadline:
        assert status == 503
        time.sleep(0.5)
    assert status == 200


def test_a_database_outage_answers_from_cache_and_memory_then_recovers(tiny_trained, tmp_path: Path, pg_proxy) -> None:
    """PostgreSQL (the time-series store) stopped under the service: a cached forecast still
    answers, a city whose history is in memory is still forecast, a city it would have to read
    gets a generic 503, and the service recovers when the database is back."""
    proxy, url = pg_proxy
    world = build_world(tiny_trained, tmp_path, url, auth_enabled=False)
    day_ahead = {"city": "DEL", "start": "2024-04-10T00:00:00", "as_of": "2024-04-09T10:00:00"}
    with TestClient(create_api(local_state(world.settings))) as client:
        assert client.post("/v1/forecast", json=day_ahead).status_code == 200  # DEL's history now in memory
        proxy.stop()
        cached = client.post("/v1/forecast", json=day_ahead)
        assert cached.status_code == 200 and cached.json()["cached"] is True
        from_memory = client.post("/v1/forecast", json={**day_ahead, "start": "2024-04-11T00:00:00", "as_of": "2024-04-10T10:00:00"})
        assert from_memory.status_code == 200 and from_memory.json()["cached"] is False
        unread = {**day_ahead, "city": "MUM"}
        down = client.post("/v1/forecast", json=unread)
        assert down.status_code == 503, down.text
        assert "psycopg" not in down.text and "5432" not in down.text and str(proxy.port) not in down.text
        proxy.start()
        deadline = time.monotonic() + 30
        while (status := client.post("/v1/forecast", json=unread).status_code) != 200 and time.monotonic() < deadline:
            assert status == 503
            time.sleep(0.5)
        assert status == 200


def test_database_sessions_have_statement_and_connect_timeouts(pg_clean_url: str) -> None:
    from data.stores.postgres.pool import get_pool

    with get_pool(pg_clean_url).connection() as conn:
        assert conn.execute("SHOW statement_timeout").fetchone()[0] != "0"
        assert conn.info.get_parameters().get("connect_timeout")


def test_a_revocation_counts_once_the_cached_lookup_expires(world: World) -> None:
    settings = world.settings.model_copy(update={"serve": world.settings.serve.model_copy(update={"key_cache_s": 0.5})})
    keys = FileKeyStore(settings.metadata_dir / "api_keys.json")
    record, key = keys.create("soon-revoked", "viewer")
    state = local_state(settings)
    state.auth = Authenticator(settings, keys)
    client = TestClient(create_api(state), client=("10.0.3.1", 4000))
    assert client.get("/v1/cities", headers={"X-API-Key": key}).status_code == 200
    keys.revoke(record.id)
    time.sleep(0.6)
    assert client.get("/v1/cities", headers={"X-API-Key": key}).status_code == 401


@pytest.mark.parametrize("local", ["2024-03-31T01:30:00", "2024-10-27T01:30:00"])  # London's gap and overlap
def test_a_naive_start_in_a_daylight_saving_gap_or_overlap_is_the_callers_422(local: str) -> None:
    """Issue 11, finding 9: pandas raised NonExistentTimeError / AmbiguousTimeError (a 500)."""
    from datetime import datetime

    from data.catalogue import City
    from data.errors import InvalidFieldError
    from serving.service import request_start

    london = City(code="LON", name="London", country="GB", latitude=51.5, longitude=-0.1,
                  timezone="Europe/London", peak_mw=6000)
    with pytest.raises(InvalidFieldError) as caught:
        request_start(london, datetime.fromisoformat(local), 15)
    assert caught.value.field == "start" and "Europe/London" in caught.value.message and "offset" in caught.value.message


def test_an_oversized_chunked_body_is_413(world: World) -> None:
    """Issue 11, finding 9: a body without Content-Length over the limit came back 400."""
    client = TestClient(_app(world, FileKeyStore(world.settings.metadata_dir / "api_keys.json")), client=("10.0.4.1", 1))
    limit = world.settings.serve.max_body_bytes

    def chunks():
        yield b'{"city": "DEL", "model_version": "'
        for _ in range(limit // 4096 + 2):
            yield b"x" * 4096
        yield b'"}'

    response = client.post("/v1/forecast", content=chunks(), headers={**world.headers("forecaster"),
                                                                     "content-type": "application/json"})
    assert response.status_code == 413


def test_readyz_does_not_echo_backend_errors(world: World, tmp_path: Path) -> None:
    """Issue 11, finding 9: /readyz needs no login, so it must not publish bucket names or error text."""
    from faults import free_port

    broken = world.settings.model_copy(update={"registry_uri": "s3://secret-bucket-name/models",
                                               "s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    client = TestClient(create_api(local_state(broken)), client=("10.0.5.1", 1))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == "registry unreachable" and "secret-bucket" not in response.text


def test_the_access_log_names_the_client_address(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 11, finding 14: a flood must be traceable to where it came from."""
    client = TestClient(_app(world, FileKeyStore(world.settings.metadata_dir / "api_keys.json")), client=("10.0.6.9", 1))
    with caplog.at_level("INFO", logger="efp.access"):
        client.get("/v1/cities", headers=world.headers("viewer"))
    assert any("client=10.0.6.9" in r.getMessage() for r in caplog.records if r.name == "efp.access")
