"""The S3 registry's local cache under many replicas: real processes (spawn) warm one version
from moto's S3 server on loopback at once, and a download killed halfway is never taken for
a complete copy."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from data.settings import PlatformSettings, load_settings
from training.bundle import load_bundle
from training.registry import VersionInfo, open_registry
from training.registry.manifest import MANIFEST_NAME


@pytest.fixture()
def s3_env(tmp_path: Path, s3_endpoint: str) -> dict[str, str]:
    """The settings every process reads from its environment: its own cache, one S3 registry."""
    return {
        "EFP_DATA_DIR": str(tmp_path / "var"),
        "EFP_REGISTRY_URI": f"s3://cache-{tmp_path.name[-12:].lower().replace('_', '-')}/reg",
        "EFP_S3_ENDPOINT_URL": s3_endpoint,
        "EFP_ENVIRONMENT": "test",
    }


def _settings(env: dict[str, str]) -> PlatformSettings:
    return load_settings(data_dir=env["EFP_DATA_DIR"], registry_uri=env["EFP_REGISTRY_URI"],
                         s3_endpoint_url=env["EFP_S3_ENDPOINT_URL"], environment="test")


def _register(settings: PlatformSettings, tiny) -> str:
    bundle = load_bundle(tiny.bundle_dir)
    info = VersionInfo(
        cities=bundle.cities, resolution_minutes=bundle.resolution_minutes, members=sorted(bundle.members),
        train_start=tiny.data_start.to_pydatetime(), train_end=tiny.data_end.to_pydatetime() - timedelta(days=7),
        feature_schema_hash=bundle.feature_schema_hash, metrics={"ensemble": {"mape": 3.0}},
    )
    return open_registry(settings).register(tiny.bundle_dir, info).version


def _warm(env: dict[str, str], version: str, start: "multiprocessing.synchronize.Barrier") -> tuple[str, list[str], str]:
    """One replica warming ``version``: fetch it through the registry, then load the bundle."""
    registry = open_registry(_settings(env))
    start.wait()
    folder = registry.fetch(version)
    bundle = load_bundle(folder)
    return str(folder), sorted(bundle.members), bundle.feature_schema_hash


def test_replicas_warming_one_version_at_once_all_load_the_same_bundle(tiny_trained, s3_env: dict[str, str]) -> None:
    settings = _settings(s3_env)
    version = _register(settings, tiny_trained)
    replicas = 4
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(replicas)
        with context.Pool(replicas) as pool:
            loaded = pool.starmap(_warm, [(s3_env, version, barrier)] * replicas)
    expected = load_bundle(tiny_trained.bundle_dir)
    assert loaded == [(str(settings.data_dir / "cache" / "registry" / version), sorted(expected.members),
                       expected.feature_schema_hash)] * replicas
    cache = settings.data_dir / "cache" / "registry"
    assert sorted(p.name for p in cache.iterdir()) == [".locks", version]  # no temporary folder left


_KILLED_DOWNLOAD = textwrap.dedent("""
    import os, sys
    from data.settings import get_settings
    from training.registry import artifacts, open_registry

    version, fetched = sys.argv[1], []
    real_get = artifacts.S3Artifacts._get
    def get_then_die(self, key):
        body = real_get(self, key)
        if f"/{version}/" in key and not key.endswith("_manifest.json"):
            fetched.append(key)
            if len(fetched) == 2:
                os._exit(9)  # killed halfway through the download, holding the version's lock
        return body
    artifacts.S3Artifacts._get = get_then_die
    open_registry(get_settings()).fetch(version)
""")


def test_a_download_killed_halfway_is_not_taken_as_complete(tiny_trained, s3_env: dict[str, str]) -> None:
    settings = _settings(s3_env)
    version = _register(settings, tiny_trained)
    env = {**os.environ, **s3_env, "PYTHONPATH": os.pathsep.join(sys.path)}
    killed = subprocess.run([sys.executable, "-c", _KILLED_DOWNLOAD, version], env=env, timeout=300, capture_output=True)
    assert killed.returncode == 9, killed.stderr.decode()[-2000:]
    cache = settings.data_dir / "cache" / "registry"
    (half,) = [p for p in cache.iterdir() if p.name.startswith(f".{version}.")]  # what the dead process left
    assert list(half.rglob("*.*")) and not (half / MANIFEST_NAME).exists() and not (cache / version).exists()

    # The same partial files at the version's own path (no manifest written last) are not complete either.
    half.rename(cache / version)
    folder = open_registry(settings).fetch(version)
    assert folder == cache / version and (folder / MANIFEST_NAME).is_file()
    assert load_bundle(folder).feature_schema_hash == load_bundle(tiny_trained.bundle_dir).feature_schema_hash
    assert sorted(p.name for p in cache.iterdir()) == [".locks", version]
