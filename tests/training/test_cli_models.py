"""`efp models list|show|promote|rollback` end to end: tiny real bundle, S3 (moto server) artifacts
with the JSON index beside them, the backtest promotion gate on the tiny bundle's stored data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data.errors import ConflictError, NotFoundError
from data.settings import PlatformSettings, get_settings
from ray_apps.cli import app
from training.bundle import load_bundle
from training.registry import VersionInfo, open_registry


@pytest.fixture()
def cli_settings(tiny_trained, tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[PlatformSettings]:
    """The CLI configured the way a user does it: EFP_* variables (data of the tiny bundle, registry in S3)."""
    monkeypatch.setenv("EFP_DATA_DIR", str(tiny_trained.settings.data_dir))
    monkeypatch.setenv("EFP_REGISTRY_URI", f"s3://cli-{tmp_path.name[-12:].lower().replace('_', '-')}/reg")
    monkeypatch.setenv("EFP_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("EFP_ENVIRONMENT", "test")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def register(settings: PlatformSettings, tiny, unseen_days: int) -> str:
    bundle = load_bundle(tiny.bundle_dir)
    info = VersionInfo(
        cities=bundle.cities, resolution_minutes=bundle.resolution_minutes, members=sorted(bundle.members),
        train_start=tiny.data_start.to_pydatetime(), train_end=tiny.data_end.to_pydatetime() - timedelta(days=unseen_days),
        feature_schema_hash=bundle.feature_schema_hash, metrics={"ensemble": {"mape": 3.0}},
    )
    return open_registry(settings).register(tiny.bundle_dir, info).version


def efp(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_models_list_show_promote_rollback(tiny_trained, cli_settings: PlatformSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    first = register(cli_settings, tiny_trained, 7)
    second = register(cli_settings, tiny_trained, 7)

    code, out = efp("models", "list", "--json")
    assert code == 0, out
    listed = json.loads(out)
    assert [v["version"] for v in listed] == [first, second] and {v["stage"] for v in listed} == {"candidate"}
    code, out = efp("models", "show", first, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["artifact_uri"].startswith("s3://") and shown["feature_schema_hash"]
    assert shown["cities"] == ["DEL", "MUM"] and shown["git_commit"]

    code, out = efp("models", "promote", first, "--json")
    assert code == 0, out
    assert json.loads(out)["cities"] == ["DEL", "MUM"]
    code, out = efp("models", "promote", second)  # the same model cannot beat itself
    assert code == ConflictError.exit_code and "does not beat production" in out and "--force" in out
    code, out = efp("models", "promote", second, "--force")
    assert code == 0 and "forced" in out

    code, out = efp("models", "list", "--city", "del", "--json")
    stages = {v["version"]: v["stage"] for v in json.loads(out)}
    assert stages == {first: "archived", second: "production"}
    code, out = efp("models", "rollback", "--city", "MUM", "--json")
    assert code == 0 and json.loads(out) == [{"city": "MUM", "from_version": second, "to_version": first}]
    registry = open_registry(cli_settings)
    assert registry.production("MUM").version == first and registry.production("DEL").version == second
    code, out = efp("models", "rollback", "--city", "MUM")
    assert code == ConflictError.exit_code and "no previous production" in out

    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: the table's cells are not shortened
    code, out = efp("models", "list")  # the people's table
    assert code == 0 and first in out and second in out and "production" in out
    code, out = efp("models", "show", "20000101T000000Z-000000")
    assert code == NotFoundError.exit_code and "not registered" in out
