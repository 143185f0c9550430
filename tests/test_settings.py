from pathlib import Path

import pytest

from data.settings import SettingsError, load_settings


def test_defaults_are_the_embedded_platform():
    settings = load_settings()
    assert settings.database_url is None and settings.redis_url is None
    assert settings.registry_is_s3 is False
    assert settings.lake_dir.name == "lake"


def test_environment_overrides_yaml(monkeypatch):
    monkeypatch.setenv("EFP_REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("EFP_SERVE__PORT", "8123")
    settings = load_settings()
    assert settings.redis_url == "redis://127.0.0.1:6379/3"
    assert settings.serve.port == 8123


def test_unknown_environment_key_is_named(monkeypatch):
    monkeypatch.setenv("EFP_REDIS_URI", "redis://x")
    with pytest.raises(SettingsError, match="EFP_REDIS_URI"):
        load_settings()


def test_unknown_yaml_key_is_named(tmp_path: Path, monkeypatch):
    config = tmp_path / "platform.yaml"
    config.write_text("redis_url: null\nregistry_urii: var/x\n")
    monkeypatch.setenv("EFP_CONFIG", str(config))
    with pytest.raises(SettingsError, match="registry_urii"):
        load_settings()


def test_bad_value_is_named(monkeypatch):
    monkeypatch.setenv("EFP_SERVE__PORT", "eighty")
    with pytest.raises(SettingsError, match="serve.port"):
        load_settings()


def test_production_refuses_the_development_secret(monkeypatch):
    monkeypatch.setenv("EFP_ENVIRONMENT", "production")
    with pytest.raises(SettingsError, match="jwt_secret"):
        load_settings()
