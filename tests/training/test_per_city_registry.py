"""Per-city versions in the registry: one version, one model id per member and city, and each
city's model fetched and verified alone (a local folder, and S3 through moto's server, where
only that city's files are downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from data.errors import NotFoundError
from data.settings import PlatformSettings, load_settings
from training.registry import CityModelId, CorruptArtifactError, open_registry

from test_registry import info


def per_city_bundle(folder: Path) -> Path:
    """A bundle folder as ``training.bundle`` lays out a per-city member (the registry reads only its layout)."""
    for city in ("DEL", "MUM"):
        (folder / "members" / "xgboost" / city).mkdir(parents=True)
        (folder / "members" / "xgboost" / city / "model.ubj").write_bytes(city.encode() * 200)
    (folder / "bundle.json").write_text(json.dumps({"members": {"xgboost": {"kind": "per_city", "cities": ["DEL", "MUM"]}}}))
    (folder / "ensemble.json").write_text("{}")
    return folder


def test_model_ids_name_version_member_and_city() -> None:
    model_id = CityModelId.parse("20261126T153012Z-1a2b3c/xgboost/del")
    assert model_id == CityModelId(version="20261126T153012Z-1a2b3c", member="xgboost", city="DEL")
    assert str(model_id) == "20261126T153012Z-1a2b3c/xgboost/DEL" and model_id.folder == "members/xgboost/DEL"
    assert CityModelId.parse("20261126T153012Z-1a2b3c") is None  # a version: a model over every city


def test_local_registry_lists_and_verifies_one_city_alone(settings: PlatformSettings, tmp_path: Path) -> None:
    registry = open_registry(settings)
    version = registry.register(per_city_bundle(tmp_path / "b"), info(["DEL", "MUM"])).version
    assert registry.get(version).city_models == [f"{version}/xgboost/DEL", f"{version}/xgboost/MUM"]
    stored = Path(registry.get(version).artifact_uri)
    (stored / "members" / "xgboost" / "MUM" / "model.ubj").write_bytes(b"flipped")
    delhi = registry.fetch_city_model(CityModelId(version=version, member="xgboost", city="DEL"))
    assert (delhi / "model.ubj").read_bytes() == b"DEL" * 200  # verified without reading Mumbai's
    with pytest.raises(CorruptArtifactError, match="members/xgboost/MUM/model.ubj' is truncated"):
        registry.fetch_city_model(CityModelId(version=version, member="xgboost", city="MUM"))
    with pytest.raises(NotFoundError, match="does not cover city CHE"):
        registry.fetch_city_model(CityModelId(version=version, member="xgboost", city="CHE"))
    with pytest.raises(CorruptArtifactError, match="no file under 'members/lstm/DEL'"):
        registry.fetch_city_model(CityModelId(version=version, member="lstm", city="DEL"))


def test_s3_registry_downloads_only_the_city_asked_for(tmp_path: Path, s3_endpoint: str) -> None:
    settings = load_settings(data_dir=tmp_path / "var", registry_uri=f"s3://percity-{tmp_path.name[-10:].lower().replace('_', '-')}/reg",
                             s3_endpoint_url=s3_endpoint, environment="test")
    registry = open_registry(settings)
    version = registry.register(per_city_bundle(tmp_path / "b"), info(["DEL", "MUM"])).version
    delhi = registry.fetch_city_model(CityModelId(version=version, member="xgboost", city="DEL"))
    cache = settings.data_dir / "cache" / "registry" / f"{version}.parts"
    assert sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()) == [
        "bundle.json", "ensemble.json", "members/xgboost/DEL/model.ubj"]
    assert delhi == cache / "members/xgboost/DEL" and (delhi / "model.ubj").read_bytes() == b"DEL" * 200
    (delhi / "model.ubj").write_bytes(b"damaged in the cache")  # noticed and fetched again
    assert (registry.fetch_city_model(CityModelId(version=version, member="xgboost", city="DEL")) / "model.ubj").read_bytes() == b"DEL" * 200

    bucket, _, prefix = settings.registry_uri.removeprefix("s3://").partition("/")
    boto3.client("s3", endpoint_url=s3_endpoint).put_object(
        Bucket=bucket, Key=f"{prefix}/{version}/members/xgboost/MUM/model.ubj", Body=b"MUM" * 199 + b"MUX")
    with pytest.raises(CorruptArtifactError, match="members/xgboost/MUM/model.ubj' in S3 does not match the manifest"):
        registry.fetch_city_model(CityModelId(version=version, member="xgboost", city="MUM"))
    assert not (cache / "members/xgboost/MUM/model.ubj").exists()
