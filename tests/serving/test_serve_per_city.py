"""Per-city models served by multiplexed routing, on the session's Ray with real Serve: a tiny
per-city version (XGBoost per city over DEL, MUM and CHE), the XGBoost deployment bounded at two
models per replica. Each city's requests carry its model id, reach its own model (the answer is
the in-process per-city forecast's) and the replica's LRU evicts the least recently used city."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from data.distributed import generate_and_ingest
from data.settings import load_settings
from serving.api import create_api
from serving.config import ServeConfigError, load_deployments_config
from serving.wiring import local_state
from training.config import parse_config
from training.pipeline import train
from training.registry import open_registry
from training.tiny import TINY_CONFIG

from serving_world import free_port, wait_ready

pytestmark = pytest.mark.slow
APP = "efp-per-city"
DEPLOYMENTS = Path(__file__).resolve().parents[2] / "configs" / "serve" / "deployments.yaml"


class PerCityWorld:
    def __init__(self, settings, version: str, url: str) -> None:
        self.settings, self.version, self.url = settings, version, url
        # This Serve's handles route on the caller's event loop: one that keeps running, for every ask.
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def forecast(self, city: str) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/forecast", json={"city": city, "start": "2024-05-08T00:00:00"},
                          headers={"Cache-Control": "no-cache"}, timeout=60)

    def xgboost_models(self) -> dict:
        """What the one XGBoost replica holds, from the replica itself."""
        from ray import serve

        async def ask() -> dict:
            return await serve.get_deployment_handle("XGBoost", app_name=APP).models.remote()

        return asyncio.run_coroutine_threadsafe(ask(), self.loop).result(timeout=30)

    def model_id(self, city: str) -> str:
        return f"{self.version}/xgboost/{city}"


@pytest.fixture(scope="module")
def per_city(ray_cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerCityWorld]:
    from ray import serve

    from serving.app import build_app
    from serving.config import ServeArgs

    root = tmp_path_factory.mktemp("per_city")
    settings = load_settings(data_dir=root / "var", registry_uri=str(root / "registry"), environment="test",
                             auth_enabled=False, serve={"member_timeout_s": 10.0})
    generate_and_ingest(settings, ["DEL", "MUM", "CHE"], dt.date(2024, 4, 1), 42, 9, 0.002, use_ray=False)
    config = parse_config({**TINY_CONFIG, "global_model": False, "models": ["xgboost"]})
    report = train(settings, config, distributed=False, log=lambda _: None)  # tiny in-process fits
    open_registry(settings).promote(report.version, force=True)
    deployments = yaml.safe_load(DEPLOYMENTS.read_text())
    xgboost = deployments["deployments"]["XGBoost"]
    xgboost.pop("autoscaling_config")
    xgboost.update(num_replicas=1, models_per_replica=2)
    (root / "deployments.yaml").write_text(yaml.safe_dump(deployments))
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    args = ServeArgs(deployments_file=str(root / "deployments.yaml"), settings=settings.transport())
    serve.run(build_app(args), name=APP, route_prefix="/", blocking=False)
    world = PerCityWorld(settings, report.version, f"http://127.0.0.1:{port}")
    wait_ready(world.url)
    yield world
    world.loop.call_soon_threadsafe(world.loop.stop)
    serve.delete(APP)
    serve.shutdown()


def _p50(body: dict) -> list[float]:
    return [point["p50"] for point in body["points"]]


def test_each_city_reaches_its_own_model_and_the_replica_evicts_the_least_recently_used(per_city: PerCityWorld) -> None:
    with TestClient(create_api(local_state(per_city.settings))) as client:  # the same per-city models, in-process
        expected = {city: client.post("/v1/forecast", json={"city": city, "start": "2024-05-08T00:00:00"}).json()
                    for city in ("DEL", "MUM", "CHE")}
    assert _p50(expected["DEL"]) != _p50(expected["MUM"])

    def served(city: str) -> dict:
        response = per_city.forecast(city)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_version"] == per_city.version and not body["degraded"]
        assert _p50(body) == pytest.approx(_p50(expected[city]), rel=1e-6)  # the city's own model answered
        return body

    assert per_city.xgboost_models()["loads"] == 0  # a per-city version is not preloaded: cities load on demand
    served("DEL")
    assert per_city.xgboost_models() == {"loaded": [per_city.model_id("DEL")], "loads": 1, "evictions": 0, "max": 2}
    served("MUM")
    served("DEL")  # held: no second load, and DEL is now the most recently used
    status = per_city.xgboost_models()
    assert status["loaded"] == [per_city.model_id("DEL"), per_city.model_id("MUM")] and status["loads"] == 2
    served("CHE")  # a third city past the bound of two: MUM, the least recently used, is evicted
    status = per_city.xgboost_models()
    assert status["loaded"] == [per_city.model_id("CHE"), per_city.model_id("DEL")]
    assert (status["loads"], status["evictions"]) == (3, 1)

    # a batch calls the member once per city, each routed to that city's model
    items = [{"city": city, "start": "2024-05-08T00:00:00"} for city in ("MUM", "CHE")]
    response = httpx.post(f"{per_city.url}/v1/forecast/batch", json={"requests": items},
                          headers={"Cache-Control": "no-cache"}, timeout=60)
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 200], results
    for city, result in zip(("MUM", "CHE"), results):
        assert _p50(result["forecast"]) == pytest.approx(_p50(expected[city]), rel=1e-6)
    status = per_city.xgboost_models()
    assert status["loaded"] == [per_city.model_id("CHE"), per_city.model_id("MUM")]  # DEL was the least recent
    assert (status["loads"], status["evictions"]) == (4, 2)


def test_a_misspelt_models_per_replica_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "deployments.yaml"
    bad.write_text(DEPLOYMENTS.read_text().replace("models_per_replica:", "models_per_replicas:", 1))
    with pytest.raises(ServeConfigError, match="models_per_replicas"):
        load_deployments_config(bad)
    bad.write_text(DEPLOYMENTS.read_text().replace("models_per_replica: ", "models_per_replica: 0  # ", 1))
    with pytest.raises(ServeConfigError, match="models_per_replica"):
        load_deployments_config(bad)
