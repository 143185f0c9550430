from pathlib import Path

import pytest

import data.config_files
from data.config_files import ConfigFileError
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
    assert settings.redis_dsn == "redis://127.0.0.1:6379/3"
    assert settings.serve.port == 8123


def test_unknown_environment_key_is_named(monkeypatch):
    monkeypatch.setenv("EFP_REDIS_URI", "redis://x")
    with pytest.raises(SettingsError, match="EFP_REDIS_URI"):
        load_settings()


def test_unknown_yaml_key_is_named(tmp_path: Path, monkeypatch):
    config = tmp_path / "platform.yaml"
    config.write_text("redis_url: null\nregistry_urii: var/x\n")
    monkeypatch.setenv("EFP_CONFIG", str(config))
    with pytest.raises(SettingsError, match=rf"^{config}, line 2: setting 'registry_urii': unknown setting$"):
        load_settings()


def test_a_settings_error_is_a_config_file_error(monkeypatch):
    monkeypatch.setenv("EFP_REDIS_URI", "redis://x")
    with pytest.raises(ConfigFileError) as caught:
        load_settings()
    assert str(caught.value) == "environment: unknown setting EFP_REDIS_URI" and caught.value.exit_code == 2


def test_the_config_folder_variable_is_not_taken_for_a_setting(tmp_path: Path, monkeypatch):
    (tmp_path / "cities.yaml").write_text("cities: []\n")
    monkeypatch.setenv("EFP_CONFIG_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.catalogue_file == tmp_path / "cities.yaml"
    assert settings.cities_file is None


def test_relative_data_paths_follow_the_checkout_else_the_working_directory(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    checkout = load_settings(data_dir="var", registry_uri="var/registry")
    assert checkout.data_dir == data.config_files.REPO_ROOT / "var"
    monkeypatch.setattr(data.config_files, "source_checkout", lambda: None)  # as from an installed wheel
    installed = load_settings(data_dir="var", registry_uri="var/registry", cities_file="mine.yaml")
    assert installed.data_dir == tmp_path / "var" and installed.registry_path == tmp_path / "var" / "registry"
    assert installed.catalogue_file == tmp_path / "mine.yaml"


def test_bad_value_is_named(monkeypatch):
    monkeypatch.setenv("EFP_SERVE__PORT", "eighty")
    with pytest.raises(SettingsError, match=r"^environment: setting 'serve.port': .*\(got 'eighty'\)"):
        load_settings()


def test_production_without_a_jwt_key_starts_and_has_no_secret_to_fall_back_on(monkeypatch):
    """There is no built-in secret (issue 11, finding 1): bearer tokens are off, API keys work."""
    monkeypatch.setenv("EFP_ENVIRONMENT", "production")
    settings = load_settings()
    assert settings.jwt_secret is None and settings.jwt_public_key is None


def test_production_refuses_auth_off():
    """Issue 11, finding 4: a production service that anyone may call as admin is refused at start."""
    with pytest.raises(SettingsError, match=r"setting 'environment': .*production needs auth_enabled: true"):
        load_settings(environment="production", auth_enabled=False)
    assert load_settings(environment="development", auth_enabled=False).auth_enabled is False  # what make demo runs


def test_a_settings_error_never_shows_a_password(monkeypatch):
    """Issue 11, finding 5: URLs with passwords are secrets, in messages and in the settings object."""
    monkeypatch.setenv("EFP_DATABASE_URL", "postgresql://efp:hunter2-pg@db/efp")
    monkeypatch.setenv("EFP_REDIS_URL", "redis://:hunter2-redis@cache:6379/0")
    with pytest.raises(SettingsError) as caught:
        load_settings(environment="production", auth_enabled=False)
    assert "hunter2" not in str(caught.value)
    settings = load_settings()
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump(mode="json"))
    assert settings.transport()["database_url"] == "postgresql://efp:hunter2-pg@db/efp"
