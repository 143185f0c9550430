"""Per-city models (``global_model: false``) on the session's real Ray: each city fits as a Ray
task, the final refit too, and the registered version holds one loadable model per city."""

from __future__ import annotations

import datetime as dt

from data.distributed import generate_and_ingest
from training.bundle import load_bundle, load_member
from training.config import parse_config
from training.pipeline import train
from training.registry import CityModelId, open_registry
from training.tiny import TINY_CONFIG


def test_cities_fit_as_ray_tasks_and_register_one_model_id_each(ray_cluster, settings) -> None:
    from ray.util.state import list_tasks

    generate_and_ingest(settings, ["DEL", "MUM"], dt.date(2024, 4, 1), 42, 9, 0.002, use_ray=False)
    config = parse_config({**TINY_CONFIG, "global_model": False, "models": ["xgboost"],
                           "scaling": {"workers": 1, "cpus_per_worker": 0.5, "use_gpu": "false"}})
    lines: list[str] = []
    report = train(settings, config, log=lines.append)
    assert report.distributed and report.models == ["xgboost"] and not report.failed_members

    # one line per finished city (the tasks' own round lines stay in their workers), selection then refit
    finished = sorted(line.split(":")[0] for line in lines if line.startswith("[xgboost] "))
    assert finished == ["[xgboost] DEL", "[xgboost] DEL", "[xgboost] MUM", "[xgboost] MUM"], lines
    tasks = list_tasks(filters=[("name", "=", "fit xgboost DEL")], raise_on_missing_output=False)
    assert len(tasks) == 2, tasks  # Ray tasks (the selection fit and the refit); their state events may still lag

    registry = open_registry(settings)
    version = registry.get(report.version)
    assert version.city_models == [f"{report.version}/xgboost/DEL", f"{report.version}/xgboost/MUM"]
    assert version.train_end == report.windows["end"], "per-city models are refitted on everything too"
    bundle = load_bundle(registry.fetch(report.version))
    for model_id in map(CityModelId.parse, version.city_models):
        alone = load_member("xgboost", registry.fetch_city_model(model_id))
        inside = bundle.members["xgboost"].model(model_id.city)
        assert alone.booster.num_boosted_rounds() == report.selected["xgboost"][model_id.city]["num_boost_round"]
        assert alone.booster.save_raw() == inside.booster.save_raw()
    delhi, mumbai = (bundle.members["xgboost"].model(c) for c in ("DEL", "MUM"))
    assert delhi.booster.save_raw() != mumbai.booster.save_raw()
