"""HTTP API v1 in-process (FastAPI app over the in-process engine and the tiny real bundle):
validation, errors, cache without Redis, a Redis that is down, and schemathesis against the
app's own OpenAPI schema. The Serve graph is tested in test_serve_app.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import hypothesis
import numpy as np
import pandas as pd
import pytest
import schemathesis
from fastapi.testclient import TestClient

from serving.api import create_api
from serving.wiring import local_state

from serving_world import World, build_world, free_port


@pytest.fixture(scope="module")
def world(tiny_trained, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tiny_trained, tmp_path_factory.mktemp("api_local"), None)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_api(local_state(world.settings))) as test_client:
        yield test_client


@pytest.fixture()
def forecaster(world: World) -> dict[str, str]:
    return world.headers("forecaster")


def test_forecast_defaults_to_next_local_day_and_refuses_a_lead_beyond_the_model(client: TestClient, forecaster) -> None:
    """The world's data ends in 2024: tomorrow is far beyond the trained lead, a 422 naming start."""
    response = client.post("/v1/forecast", json={"city": "del"}, headers=forecaster)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    tomorrow = (pd.Timestamp.now(tz="Asia/Kolkata").normalize() + pd.Timedelta(days=1)).tz_convert("UTC")
    assert problem["loc"] == ["body", "start"] and tomorrow.isoformat() in problem["msg"] and "at most 48 h" in problem["msg"]


def test_every_answer_says_where_its_time_went(client: TestClient, forecaster) -> None:
    """A ``Server-Timing`` header per response: the cache lookup of a forecast, then the
    ingress's whole time (``app``), which covers its stages."""
    from serving.timing import parse

    request = {"city": "DEL", "start": "2024-04-11T00:00:00", "as_of": "2024-04-10T10:00:00"}
    client.post("/v1/forecast", json=request, headers=forecaster)  # computed, then cached
    hit = client.post("/v1/forecast", json=request, headers=forecaster)
    assert hit.status_code == 200 and hit.json()["cached"] is True
    spans = parse(hit.headers["server-timing"])
    assert set(spans) == {"cache", "app"} and 0 < spans["cache"] <= spans["app"]
    probe = parse(client.get("/healthz").headers["server-timing"])
    assert set(probe) == {"app"} and probe["app"] > 0


def test_forecast_reports_issue_time_data_until_and_lead(client: TestClient, forecaster, world: World) -> None:
    """Issued at 10:00 the day before (lead 14 h): only load before the issue time is used."""
    request = {"city": "DEL", "start": "2024-04-10T00:00:00", "as_of": "2024-04-09T10:00:00"}
    response = client.post("/v1/forecast", json=request, headers=forecaster)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["city"] == "DEL" and body["model_version"] == world.versions[0] and body["resolution_minutes"] == 15
    assert pd.Timestamp(body["as_of"]) == pd.Timestamp("2024-04-09T10:00:00+05:30")
    assert pd.Timestamp(body["data_until"]) == pd.Timestamp("2024-04-09T10:00:00+05:30")
    assert len(body["points"]) == 96 and pd.Timestamp(body["points"][0]["ts"]) == pd.Timestamp("2024-04-10T00:00:00+05:30")
    assert all(p["p10"] <= p["p50"] <= p["p90"] for p in body["points"])
    assert {m["name"] for m in body["members"]} == {"xgboost", "lstm", "transformer"} and not body["degraded"]
    assert isinstance(body["notes"], list)
    late = client.post("/v1/forecast", json={**request, "as_of": "2024-04-08T10:00:00"}, headers=forecaster).json()
    assert pd.Timestamp(late["data_until"]) == pd.Timestamp("2024-04-08T10:00:00+05:30")  # a day older: lead 38 h
    assert late["points"] != body["points"]
    future = client.post("/v1/forecast", json={**request, "as_of": "2099-01-01T00:00:00"}, headers=forecaster)
    assert future.status_code == 422 and future.json()["detail"][0]["loc"] == ["body", "as_of"]


def test_second_identical_request_is_served_from_the_in_process_cache(client: TestClient, forecaster) -> None:
    request = {"city": "MUM", "start": "2024-04-05T00:00:00", "horizon": "12h", "quantiles": [0.5]}
    first = client.post("/v1/forecast", json=request, headers=forecaster).json()
    second = client.post("/v1/forecast", json=request, headers=forecaster).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["points"] == first["points"] and len(first["points"]) == 48
    assert set(first["points"][0]) == {"ts", "p50"}  # only the quantile asked for
    assert pd.Timestamp(first["points"][0]["ts"]) == pd.Timestamp("2024-04-05T00:00:00+05:30")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"horizon": "1x"}, "horizon"),
        ({"horizon": 0}, "horizon"),
        ({"horizon": "20m"}, "horizon"),  # not a whole number of 15-minute steps
        ({"horizon": 10_000}, "horizon"),
        ({"quantiles": [0.3]}, "quantiles"),
        ({"quantiles": [0.5, 0.5]}, "quantiles"),
        ({"start": "2024-04-05T00:07:00"}, "start"),  # not on a block boundary
        ({"start": "not a time"}, "start"),
        ({"weather": [{"ts": "1999-01-01T00:00:00Z", "temperature_c": 30}]}, "weather"),
        ({"weather": [{"ts": "2024-04-05T00:00:00Z", "temperature_c": 900}]}, "weather"),
    ],
)
def test_bad_fields_answer_422_naming_the_field(client: TestClient, forecaster, change: dict, field: str) -> None:
    response = client.post("/v1/forecast", json={"city": "DEL", "start": "2024-04-05T00:00:00", **change}, headers=forecaster)
    assert response.status_code == 422, response.text
    locations = [detail["loc"] for detail in response.json()["detail"]]
    assert any(field in loc for loc in locations), locations


def test_unknown_city_and_unknown_version_answer_404(client: TestClient, forecaster) -> None:
    assert client.post("/v1/forecast", json={"city": "ZZZ"}, headers=forecaster).status_code == 404
    assert client.post("/v1/forecast", json={"city": "BLR"}, headers=forecaster).status_code == 404  # no model covers it
    missing = client.post("/v1/forecast", json={"city": "DEL", "model_version": "20990101T000000Z-000000"}, headers=forecaster)
    assert missing.status_code == 404 and "not registered" in missing.json()["detail"]


def test_oversize_body_answers_413(client: TestClient, forecaster, world: World) -> None:
    body = b'{"city": "DEL", "model_version": "' + b"x" * world.settings.serve.max_body_bytes + b'"}'
    response = client.post("/v1/forecast", content=body, headers={**forecaster, "content-type": "application/json"})
    assert response.status_code == 413


def test_batch_reports_each_item_on_its_own(client: TestClient, forecaster) -> None:
    response = client.post("/v1/forecast/batch", headers=forecaster, json={"requests": [
        {"city": "DEL", "start": "2024-04-06T00:00:00"}, {"city": "MUM", "start": "2024-04-06T00:00:00"}, {"city": "ZZZ"},
    ]})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 200, 404]
    assert results[1]["forecast"]["city"] == "MUM" and len(results[1]["forecast"]["points"]) == 96


def test_access_log_names_the_key_id_never_the_secret(client: TestClient, world: World, caplog: pytest.LogCaptureFixture) -> None:
    key = world.keys["viewer"]
    with caplog.at_level("INFO", logger="efp.access"):
        assert client.get("/v1/cities", headers={"X-API-Key": key}).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "efp.access"]
    key_id = key.split("_")[1]
    assert len(lines) == 1 and lines[0].startswith("GET /v1/cities 200") and f"caller=key:{key_id}" in lines[0]
    assert key.rsplit("_", 1)[1] not in caplog.text


def test_file_key_store_roles_and_revocation(world: World) -> None:
    """With ``key_cache_s: 0`` a revocation counts at once (the default trusts a lookup for 10 s)."""
    from serving.auth.keys import open_key_store

    settings = world.settings.model_copy(update={"serve": world.settings.serve.model_copy(update={"key_cache_s": 0})})
    client = TestClient(create_api(local_state(settings)))
    assert client.get("/v1/cities").status_code == 401
    assert client.get("/v1/cities", headers={"X-API-Key": "efp_nope_nope"}).status_code == 401
    assert client.get("/v1/cities", headers=world.headers("viewer")).status_code == 200
    assert client.post("/v1/forecast", json={"city": "DEL"}, headers=world.headers("viewer")).status_code == 403
    store = open_key_store(world.settings)
    record, key = store.create("short-lived", "admin")
    assert client.get("/v1/keys", headers={"X-API-Key": key}).status_code == 200
    store.revoke(record.id)
    assert client.get("/v1/keys", headers={"X-API-Key": key}).status_code == 401
    assert (world.settings.metadata_dir / "api_keys.json").read_text().count(key.rsplit("_", 1)[1]) == 0  # hashed only


def test_redis_down_still_answers_and_counts_it(tiny_trained, tmp_path) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    down = build_world(tiny_trained, tmp_path, None, redis_url=closed)
    with TestClient(create_api(local_state(down.settings))) as test_client:
        for _ in range(2):
            response = test_client.post("/v1/forecast", json={"city": "DEL", "start": "2024-04-05T00:00:00"},
                                        headers=down.headers("forecaster"))
            assert response.status_code == 200 and response.json()["cached"] is False
        metrics = test_client.get("/metrics").text
    assert 'efp_backend_errors_total{component="cache"}' in metrics
    assert 'efp_backend_errors_total{component="ratelimit"}' in metrics


def test_auth_off_is_announced_on_healthz(world: World) -> None:
    settings = world.settings.model_copy(update={"auth_enabled": False})
    with TestClient(create_api(local_state(settings))) as test_client:
        health = test_client.get("/healthz").json()
        assert test_client.get("/v1/keys").status_code == 200  # everyone is admin: that is what the warning is for
    assert health["auth"] == "disabled" and "DISABLED" in health["warning"]


def test_no_input_makes_the_api_answer_5xx(world: World) -> None:
    """Property-based (schemathesis over the app's own /openapi.json, as an admin): no 5xx
    for any generated input; about 6 examples for each of the 10 operations."""
    app = create_api(local_state(world.settings))
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen: list[tuple[str, int]] = []
    with TestClient(app):  # runs the lifespan like the server does
        for result in api.get_all_operations():
            operation = result.ok()

            @hypothesis.given(case=operation.as_strategy())
            @hypothesis.settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(hypothesis.HealthCheck))
            def never_5xx(case) -> None:
                response = case.call(headers=world.headers("admin"))
                seen.append((operation.label, response.status_code))
                assert response.status_code < 500, (operation.label, case.body, response.text[:300])

            never_5xx()
    assert len({label for label, _ in seen}) >= 9 and any(code == 200 for _, code in seen)


@pytest.mark.parametrize("clock", ["2024-04-12T23:30:00+00:00", "2024-04-13T05:00:00+00:00"])
def test_the_demo_forecast_step_keeps_the_daily_shape_at_any_hour(client: TestClient, forecaster, world: World, clock) -> None:
    """What the demo asks, with the clock at 23:30 and at 05:00 UTC: the city's tomorrow, from
    load known up to the issue time (lead 19 h and 13.5 h), with its daily profile."""
    from data.stores import open_store
    from ray_apps.demo import history_days
    from serving.client import forecast_body, lead_hours

    now = pd.Timestamp(clock).to_pydatetime()
    first_day, _ = history_days("Asia/Kolkata", now, 30)
    assert first_day == (pd.Timestamp(clock).tz_convert("Asia/Kolkata").normalize() - pd.Timedelta(days=29)).date()
    response = client.post("/v1/forecast", json=forecast_body("DEL", as_of=now), headers=forecaster)
    assert response.status_code == 200, response.text
    body = response.json()
    tomorrow = pd.Timestamp(clock).tz_convert("Asia/Kolkata").normalize() + pd.Timedelta(days=1)
    assert pd.Timestamp(body["points"][0]["ts"]) == tomorrow and len(body["points"]) == 96
    assert pd.Timestamp(body["as_of"]) == pd.Timestamp(clock) and pd.Timestamp(body["data_until"]) <= pd.Timestamp(clock)
    assert lead_hours(body) == pytest.approx((tomorrow - pd.Timestamp(clock)) / pd.Timedelta(hours=1), abs=0.25)
    actual = open_store(world.settings).read_load("DEL", tomorrow.tz_convert("UTC"), (tomorrow + pd.Timedelta(days=1)).tz_convert("UTC"))
    p50 = np.array([p["p50"] for p in body["points"]])
    truth = actual["load_mw"].to_numpy(float)
    assert len(truth) == 96
    assert np.corrcoef(p50, truth)[0, 1] > 0.9  # the daily shape, not a flat line
    assert np.mean(np.abs(p50 / truth - 1)) < 0.08
