"""The member registry is the one home of a member: a toy fourth member registered in the
suite is validated, trained, saved, loaded, tuned and served without touching another module."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from data.settings import load_settings
from serving.api import create_api
from serving.config import deployment_names, load_deployments_config, member_deployments
from serving.wiring import local_state
from training.bundle import load_bundle
from training.config import TrainingConfigError, parse_config
from training.members.registry import get_member, member_names, registered
from training.pipeline import train
from training.registry import open_registry
from training.tiny import TINY_CONFIG
from training.tuning.space import TuneSpace

from toy_member import SPEC, ToyMember


def test_builtin_members_come_from_the_registry() -> None:
    assert member_names() == ("xgboost", "lstm", "transformer")
    assert parse_config({}).models == ["xgboost", "lstm", "transformer"]
    assert member_deployments() == {"XGBoost": "xgboost", "LSTM": "lstm", "Transformer": "transformer"}
    with pytest.raises(TrainingConfigError, match=r"field 'models.0': .*unknown member 'toy'"):
        parse_config({"models": ["toy"]}, "command line")


def test_a_toy_member_is_trained_saved_loaded_and_served(tiny_trained, tmp_path) -> None:
    settings = load_settings(data_dir=tiny_trained.settings.data_dir, registry_uri=str(tmp_path / "registry"),
                             environment="test", auth_enabled=False)
    with registered(SPEC):
        # configuration: the toy's params are validated by its own model, names included
        config = parse_config({**TINY_CONFIG, "models": ["xgboost", "toy"], "members": {**TINY_CONFIG["members"], "toy": {"shrink": 0.2}}})
        assert config.member_params("toy") == {"shrink": 0.2}
        with pytest.raises(TrainingConfigError, match=r"field 'members.toy.shrnk': unknown field"):
            parse_config({"members": {"toy": {"shrnk": 1}}})
        # Tune reads its space off the spec as for any member
        space = TuneSpace.model_validate({"model": "toy", "params": {"shrink": "declared"}})
        assert (space.params["shrink"].low, space.params["shrink"].high) == (0.0, 1.0)
        assert space.max_reports(config.member_params("toy")) == 1
        # Serve: one deployment per member, the toy's with default resources
        assert "Toy" in deployment_names() and member_deployments()["Toy"] == "toy"
        assert load_deployments_config().spec("Toy").num_cpus > 0

        lines: list[str] = []
        report = train(settings, config, cities=["DEL", "MUM"], distributed=False, log=lines.append)
        assert report.models == ["toy", "xgboost"] and not report.failed_members
        assert any(line.startswith("[toy] offsets") for line in lines)
        assert "toy" in report.metrics["all"]  # evaluated on the test window beside the others

        bundle = load_bundle(open_registry(settings).fetch(report.version))
        assert isinstance(bundle.members["toy"], ToyMember)

        with TestClient(create_api(local_state(settings))) as client:
            response = client.post("/v1/forecast", json={"city": "DEL", "start": "2024-04-10T00:00:00"})
        assert response.status_code == 200, response.text
        body = response.json()
        reports = {m["name"]: m for m in body["members"]}
        assert set(reports) == {"xgboost", "toy"} and not body["degraded"]
        # served as the ensemble weighs it: run when it has weight for DEL, else skipped (weight 0: not run)
        needed = bundle.ensemble.members_needed("DEL")
        assert needed and {name for name, m in reports.items() if m["used"]} == needed
        assert all(m["skipped"] and m["weight"] == 0 for name, m in reports.items() if name not in needed)
        assert len(body["points"]) == 96 and all(p["p10"] <= p["p50"] <= p["p90"] for p in body["points"])
    assert "toy" not in member_names() and get_member("xgboost").deployment == "XGBoost"
