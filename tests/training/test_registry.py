"""The model registry against real storage: a local folder + JSON index, and S3 (moto server over
HTTP, boto3 with an endpoint URL) + a PostgreSQL index."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest

from data.errors import ConflictError, NotFoundError
from data.settings import PlatformSettings, load_settings
from training.registry import CheckResult, CorruptArtifactError, ModelVersion, VersionInfo, open_registry
from training.registry.manifest import MANIFEST_NAME


def make_bundle(folder: Path, payload: bytes = b"weights" * 100) -> Path:
    (folder / "members").mkdir(parents=True)
    (folder / "members" / "xgboost.json").write_bytes(payload)
    (folder / "bundle.json").write_text('{"kind": "ensemble"}')
    return folder


def info(cities: list[str], mape: float = 5.0) -> VersionInfo:
    return VersionInfo(
        cities=cities,
        resolution_minutes=15,
        train_start=datetime(2024, 1, 1, tzinfo=timezone.utc),
        train_end=datetime(2024, 6, 1, tzinfo=timezone.utc),
        members=["xgboost"],
        metrics={"ensemble": {"mape": mape}},
        config={"models": ["xgboost"]},
        feature_schema_hash="abc123",
    )


def metric_check(candidate: ModelVersion, production: ModelVersion, city: str) -> CheckResult:
    """A real comparison on the stored training-time MAPE (the backtest gate has its own test)."""
    new, old = candidate.metrics["ensemble"]["mape"], production.metrics["ensemble"]["mape"]
    return CheckResult(city=city, passed=new < old, detail=f"MAPE {new:.2f} vs {old:.2f}")


@pytest.fixture()
def s3_pg_settings(tmp_path: Path, pg_clean_url: str, s3_endpoint: str) -> PlatformSettings:
    return load_settings(
        data_dir=tmp_path / "var",
        registry_uri=f"s3://registry-{tmp_path.name.lower().replace('_', '-')[-20:]}/models",
        s3_endpoint_url=s3_endpoint,
        database_url=pg_clean_url,
        environment="test",
    )


def test_local_register_list_fetch_verified(settings: PlatformSettings, tmp_path: Path) -> None:
    registry = open_registry(settings)
    version = registry.register(make_bundle(tmp_path / "b1"), info(["del", "MUM"]))
    assert version.stage == "candidate" and version.cities == ["DEL", "MUM"]
    assert len(version.git_commit or "") >= 7 and version.feature_schema_hash == "abc123"
    folder = registry.fetch(version.version)
    assert (folder / "members" / "xgboost.json").read_bytes() == b"weights" * 100
    assert (folder / MANIFEST_NAME).is_file()
    later = registry.register(make_bundle(tmp_path / "b2"), info(["DEL"]))
    assert [v.version for v in registry.list_versions()] == [version.version, later.version]
    assert [v.version for v in registry.list_versions(city="MUM")] == [version.version]
    assert (settings.registry_path / "index.json").is_file()
    with pytest.raises(NotFoundError, match="not registered"):
        registry.fetch("20000101T000000Z-000000")


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest"])
def test_local_corrupt_artifact_is_refused(settings: PlatformSettings, tmp_path: Path, damage: str) -> None:
    registry = open_registry(settings)
    version = registry.register(make_bundle(tmp_path / "b"), info(["DEL"])).version
    stored = settings.registry_path / version / "members" / "xgboost.json"
    data = stored.read_bytes()
    if damage == "flip":
        stored.write_bytes(data[:10] + bytes([data[10] ^ 0x01]) + data[11:])
        expected = "xgboost.json' is corrupt"
    elif damage == "truncate":
        stored.write_bytes(data[:-7])
        expected = "xgboost.json' is truncated"
    elif damage == "delete":
        stored.unlink()
        expected = "xgboost.json' is missing"
    else:
        manifest = settings.registry_path / version / MANIFEST_NAME
        manifest.write_bytes(manifest.read_bytes().replace(b'"size"', b'"size" '))
        expected = "does not match the registry index"
    with pytest.raises(CorruptArtifactError, match=expected) as raised:
        registry.fetch(version)
    assert "\n" not in str(raised.value) and version in str(raised.value)
    with pytest.raises(CorruptArtifactError):
        registry.promote(version, force=True)  # a damaged version is never promoted


def test_s3_fetch_verifies_and_refuses_corrupt_objects(s3_pg_settings: PlatformSettings, tmp_path: Path) -> None:
    registry = open_registry(s3_pg_settings)
    version = registry.register(make_bundle(tmp_path / "b"), info(["DEL"]))
    assert version.artifact_uri.startswith("s3://")
    folder = registry.fetch(version.version)
    assert folder == s3_pg_settings.data_dir / "cache" / "registry" / version.version
    assert (folder / "bundle.json").read_text() == '{"kind": "ensemble"}'

    # A damaged cache is noticed and refetched from S3.
    (folder / "bundle.json").write_text("garbage")
    assert (registry.fetch(version.version) / "bundle.json").read_text() == '{"kind": "ensemble"}'

    s3 = boto3.client("s3", endpoint_url=s3_pg_settings.s3_endpoint_url)
    bucket, _, prefix = s3_pg_settings.registry_uri.removeprefix("s3://").partition("/")
    key = f"{prefix}/{version.version}/members/xgboost.json"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    # Another machine (its own empty cache) fetching damaged objects is refused, and keeps no copy.
    elsewhere = open_registry(s3_pg_settings.model_copy(update={"data_dir": tmp_path / "other"}))
    s3.put_object(Bucket=bucket, Key=key, Body=body[:-1] + bytes([body[-1] ^ 0x80]))
    with pytest.raises(CorruptArtifactError, match="xgboost.json' is corrupt"):
        elsewhere.fetch(version.version)
    s3.put_object(Bucket=bucket, Key=key, Body=body[: len(body) // 2])
    with pytest.raises(CorruptArtifactError, match="xgboost.json' is truncated"):
        elsewhere.fetch(version.version)
    assert not (tmp_path / "other" / "cache" / "registry" / version.version).exists()


def _promotion_flow(settings: PlatformSettings, tmp_path: Path) -> None:
    registry = open_registry(settings)
    first = registry.register(make_bundle(tmp_path / "a"), info(["DEL", "MUM"], mape=5.0)).version
    worse = registry.register(make_bundle(tmp_path / "b"), info(["DEL"], mape=6.0)).version
    better = registry.register(make_bundle(tmp_path / "c"), info(["DEL"], mape=4.0)).version
    assert registry.resolve("DEL").version == better  # no production yet: newest covering DEL
    token0 = registry.production_token()

    registry.promote(first, check=metric_check)  # nothing in production: no comparison needed
    assert registry.production("DEL").version == first and registry.production("MUM").version == first
    assert registry.get(first).stage == "production"
    assert registry.production_token() != token0

    with pytest.raises(ConflictError, match=f"does not beat production {first} for DEL: MAPE 6.00 vs 5.00"):
        registry.promote(worse, check=metric_check)
    assert registry.production("DEL").version == first
    with pytest.raises(ConflictError, match="already production"):
        registry.promote(first, check=metric_check)

    result = registry.promote(better, check=metric_check)
    assert result.cities == ["DEL"] and result.checks[0].passed
    token1 = registry.production_token()
    registry.promote(worse, force=True)
    assert registry.production("DEL").version == worse and registry.production("MUM").version == first
    assert registry.resolve("DEL").version == worse and registry.resolve("DEL", better).version == better
    with pytest.raises(NotFoundError, match="does not cover city MUM"):
        registry.resolve("MUM", worse)
    assert registry.production_token() != token1

    rolled = registry.rollback(city="del")
    assert [(r.city, r.from_version, r.to_version) for r in rolled] == [("DEL", worse, better)]
    assert registry.get(worse).stage == "archived"
    rolled = registry.rollback()  # every city with a previous production: only DEL
    assert [(r.city, r.to_version) for r in rolled] == [("DEL", first)]
    assert registry.production("DEL").version == first and registry.get(better).stage == "archived"
    with pytest.raises(ConflictError, match="no previous production"):
        registry.rollback(city="MUM")
    with pytest.raises(NotFoundError, match="no model version covers city XYZ"):
        registry.resolve("XYZ")


def test_promote_and_rollback_with_s3_and_postgresql(s3_pg_settings: PlatformSettings, tmp_path: Path) -> None:
    _promotion_flow(s3_pg_settings, tmp_path)


def test_promote_and_rollback_with_folder_and_json_index(settings: PlatformSettings, tmp_path: Path) -> None:
    _promotion_flow(settings, tmp_path)


def test_postgres_index_holds_the_production_history(pg_settings: PlatformSettings, tmp_path: Path) -> None:
    import psycopg

    registry = open_registry(pg_settings)
    with_nan = info(["DEL"]).model_copy(update={"metrics": {"ensemble": {"mape": 4.0, "mase": float("nan")}}})
    version = registry.register(make_bundle(tmp_path / "a"), VersionInfo.model_validate(with_nan.model_dump())).version
    assert registry.get(version).metrics == {"ensemble": {"mape": 4.0, "mase": None}}  # jsonb has no NaN
    registry.promote(version)
    with psycopg.connect(pg_settings.database_dsn) as conn:
        rows = conn.execute("SELECT city, version, rolled_back_at FROM registry_production").fetchall()
    assert rows == [("DEL", version, None)]
    assert not (pg_settings.registry_path / "index.json").exists()


def test_a_trainer_may_choose_the_version_id(settings: PlatformSettings, tmp_path: Path) -> None:
    from training.registry import new_version_id

    registry = open_registry(settings)
    chosen = new_version_id()
    assert registry.register(make_bundle(tmp_path / "a"), info(["DEL"]), version=chosen).version == chosen
    with pytest.raises(ConflictError, match="already registered"):
        registry.register(make_bundle(tmp_path / "b"), info(["DEL"]), version=chosen)
    with pytest.raises(ConflictError, match="not of the form"):
        registry.register(make_bundle(tmp_path / "c"), info(["DEL"]), version="../evil")


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_concurrent_registrations_all_land_in_the_json_index(
    settings: PlatformSettings, tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    """Two processes' worth of writers on one index.json: none loses another's version."""
    from concurrent.futures import ThreadPoolExecutor

    if where == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        settings = settings.model_copy(update={"registry_uri": "s3://concurrent-index/reg", "s3_endpoint_url": endpoint})
    bundles = [make_bundle(tmp_path / f"b{i}", payload=bytes([i]) * 50) for i in range(6)]

    def register(bundle: Path) -> str:
        return open_registry(settings).register(bundle, info(["DEL"])).version  # one client per writer

    with ThreadPoolExecutor(max_workers=6) as pool:
        registered = set(pool.map(register, bundles))
    assert {v.version for v in open_registry(settings).list_versions()} == registered and len(registered) == 6
