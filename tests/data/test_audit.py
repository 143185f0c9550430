"""The audit log of admin actions, against the file metadata store and real PostgreSQL: keys
created and revoked, versions promoted and rolled back through the CLI and the HTTP API,
read back with `efp audit list`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from data.settings import PlatformSettings, get_settings, load_settings
from data.stores.audit import AUDIT_FILE, AuditEntry, FileAuditLog, acting_as, open_audit
from ray_apps.cli import app
from ray_apps.cli.audit_commands import cli_actor
from serving.api import create_api
from serving.auth.keys import open_key_store
from serving.wiring import local_state
from training.registry import VersionInfo, open_registry

INFO = VersionInfo(cities=["DEL"], resolution_minutes=15, members=["xgboost"], feature_schema_hash="abc123",
                   train_start=datetime(2024, 1, 1, tzinfo=timezone.utc), train_end=datetime(2024, 6, 1, tzinfo=timezone.utc))


def _bundle(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "bundle.json").write_text('{"kind": "ensemble"}')
    return folder


@pytest.fixture(params=["files", "postgresql"])
def audit_settings(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PlatformSettings]:
    """Settings as the CLI reads them (EFP_* variables), with the metadata in files or in PostgreSQL."""
    database_url = request.getfixturevalue("pg_clean_url") if request.param == "postgresql" else None
    monkeypatch.setenv("EFP_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("EFP_REGISTRY_URI", str(tmp_path / "registry"))
    monkeypatch.setenv("EFP_ENVIRONMENT", "test")
    if database_url:
        monkeypatch.setenv("EFP_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def efp(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_and_http_admin_actions_are_audited(audit_settings: PlatformSettings, tmp_path: Path) -> None:
    registry = open_registry(audit_settings)
    first, second = (registry.register(_bundle(tmp_path / f"b{i}"), INFO).version for i in (1, 2))

    created = json.loads(efp("keys", "create", "--role", "admin", "--name", "ops-team", "--json"))
    efp("models", "promote", first, "--force")
    efp("keys", "revoke", created["id"])
    with acting_as("setup:test"):
        admin_key = open_key_store(audit_settings).create("http-admin", "admin")  # audited too, under this actor
    with TestClient(create_api(local_state(audit_settings))) as client:
        answer = client.post(f"/v1/models/{second}/promote", json={"force": True}, headers={"X-API-Key": admin_key[1]})
        assert answer.status_code == 200, answer.text
    efp("models", "rollback", "--city", "DEL")

    entries = json.loads(efp("audit", "list", "--json"))
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        (cli_actor(), "model.rollback", "DEL"),
        (f"key:{admin_key[0].id}", "model.promote", second),
        ("setup:test", "key.create", admin_key[0].id),
        (cli_actor(), "key.revoke", created["id"]),
        (cli_actor(), "model.promote", first),
        (cli_actor(), "key.create", created["id"]),
    ]
    assert entries[0]["detail"] == {"from_version": second, "to_version": first}
    assert entries[-1]["detail"] == {"name": "ops-team", "role": "admin"}
    assert entries[-2]["detail"] == {"cities": ["DEL"], "forced": True}
    times = [datetime.fromisoformat(e["time"]) for e in entries]
    assert times == sorted(times, reverse=True) and all(t.tzinfo is not None for t in times)
    assert created["key"] not in json.dumps(entries)  # the key itself is never audited

    only = json.loads(efp("audit", "list", "--action", "key.revoke", "--json"))
    assert [e["target"] for e in only] == [created["id"]]
    table = efp("audit", "list", "--limit", "2")
    assert "model.rollback" in table and "key.create" not in table
    refused = CliRunner().invoke(app, ["audit", "list", "--action", "key.delete"])
    assert refused.exit_code == 2 and "'key.delete' is not one of" in refused.output


def test_a_line_cut_short_by_a_crash_hides_no_entry(tmp_path: Path) -> None:
    log = FileAuditLog(tmp_path)
    entry = AuditEntry(time=datetime.now(timezone.utc), actor="cli:ops", action="key.revoke", target="abc")
    log.append(entry)
    with open(tmp_path / AUDIT_FILE, "a", encoding="utf-8") as handle:
        handle.write('{"time": "2026-12-01T10:00:00Z", "actor": "cli:o')  # a crash mid-append
    assert log.entries() == [entry]
    settings = load_settings(data_dir=tmp_path / "var", environment="test")
    assert open_audit(settings).entries() == []
